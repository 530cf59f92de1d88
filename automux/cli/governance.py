"""``automux check`` and ``automux promote``: governance on the command line (import-light).

``check`` exits 0 when the data is ready (with or without warnings) and 1 when
it is not ready; ``promote`` exits 0 when the candidate is promoted and 1 when
it is refused. Bad input exits 2 (``cli.main`` handles ``UserError``).
"""
from __future__ import annotations

import argparse
from typing import Any

from ._common import add_data, add_split, add_store, emit as _emit


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="readiness before AutoML: baselines, small-data and leakage warnings, verdict")
    add_data(p)
    add_split(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("promote", help="rebuild a candidate explicitly, re-validate it over seeds, promote or refuse")
    p.add_argument("run_id")
    p.add_argument("--candidate", type=int, help="candidate index (default: the run's chosen one)")
    p.add_argument("--seeds", type=int, default=5, help="seeds to re-validate over (default 5)")
    p.add_argument("--data", help="the data again, when the run was made from a DataFrame")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds the rebuild may take (default 900)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_store(p)
    p.set_defaults(handler=cmd_promote)


def cmd_check(a: argparse.Namespace, store: Any) -> int:
    from ..governance.readiness import NOT_READY, check_data

    r = check_data(a.data, a.target, seed=a.seed, folds=a.folds, test_size=a.test_size, metric=a.metric,
                   task=a.task, drop=a.drop or None, drop_missing_target=a.drop_missing_target)
    if a.json:
        _emit(r.to_json())
    else:
        s = r.stats
        print(f"{a.data}: {s['rows']} rows ({s['train_rows']} train in {s['folds']} folds, "
              f"{s['holdout_rows']} hold-out), metric {r.metric}")
        for b in r.baselines.values():
            folds = ", ".join(f"{x:.4g}" for x in b.fold_scores)
            hold = "-" if b.holdout is None else f"{b.holdout:.4g}"
            print(f"  baseline {b.name:7} {r.metric} {b.mean:.4g} +/- {b.std:.3g}  folds [{folds}]  hold-out {hold}")
        for w in r.warnings:
            col = f" [{w['column']}]" if w["column"] else ""
            print(f"  {w['severity']:7} {w['kind']}{col}: {w['reason']}")
        print(f"verdict: {r.verdict}")
    return 1 if r.verdict == NOT_READY else 0


def cmd_promote(a: argparse.Namespace, store: Any) -> int:
    from ..governance.promote import PROMOTED, promote

    d = promote(a.run_id, store=store, candidate=a.candidate, seeds=a.seeds, data=a.data, timeout_s=a.timeout)
    if a.json:
        _emit(d)
    else:
        rev = d["scores"].get("revalidated") or {}
        rep = d["scores"]["reported"]
        print(f"run {d['run_id']} candidate {d['candidate']} ({d['algorithm']}, {d['backend']}): {d['status']}")
        print(f"  rebuild: {d['rebuild']}" + (f" -> {d['code_path']}" if d["code_path"] else ""))
        print(f"  reported   CV {d['metric']} {rep['cv']}  hold-out {rep['holdout']}")
        if rev:
            print(f"  re-checked CV {d['metric']} {rev['cv_mean']:.6g} (+/- {rev['cv_std_over_seeds']:.3g} over "
                  f"{len(d['seeds'])} seeds)  hold-out {rev['holdout_mean']}")
        if d.get("gain"):
            print(f"  {d['gain']['reason']}")
        print(f"  {d['reason']}")
    return 0 if d["status"] == PROMOTED else 1
