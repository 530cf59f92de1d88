"""``automux run`` and ``automux compare``: runs under the contract, one leaderboard.

Each handler takes ``(args, store)`` and returns the exit code: 0 ok, 1 a run
failed (its record is stored), 2 bad input (``UserError`` / ``UsageError``).
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, List

from ._common import (EXIT_OK, EXIT_RUN_FAILED, add_budget, add_data, add_split, add_store, emit as _emit,
                      fmt as _fmt, leaderboard_text as _leaderboard_text, parse_options as _options,
                      run_summary as _run_summary)


def _experiment_parser(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand taking the shared experiment options (data, budget, split, options, store)."""
    p = sub.add_parser(name, help=help)
    add_data(p)
    add_budget(p)
    add_split(p)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option (repeatable; VALUE parsed as JSON when it can be)")
    p.add_argument("--inline", action="store_true", help="run in this process (debugging; no hard deadline)")
    p.add_argument("--no-check", action="store_true", help="skip the readiness check (and the gain over baselines)")
    p.add_argument("--no-build", action="store_true", help="refuse to build a missing isolated backend env")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_store(p)
    return p


def add_parser(sub: Any) -> None:
    """Register ``run`` and ``compare``."""
    p = _experiment_parser(sub, "run", "one run under the contract")
    p.add_argument("--backend", required=True)
    p.set_defaults(handler=cmd_run)

    p = _experiment_parser(sub, "compare", "the same spec on several backends, one leaderboard")
    p.add_argument("--backends", required=True, help="comma list, or `installed` for every available one")
    p.add_argument("--jobs", type=int, default=1, help="backends run side by side (default 1)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local processes (default) or an existing Dask cluster (with --scheduler)")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (with --executor dask)")
    p.add_argument("--ensemble", action="store_true",
                   help="then a greedy ensemble of the ok runs with out-of-fold predictions, stored as a run")
    p.add_argument("--no-warm", action="store_true",
                   help="every run starts its own backend runtime (default: an H2O JVM is kept up across runs)")
    p.set_defaults(handler=cmd_compare)


def _experiment_args(a: argparse.Namespace) -> Dict[str, Any]:
    return dict(budget_trials=a.budget_trials, budget_seconds=a.budget_seconds, seed=a.seed, folds=a.folds,
                test_size=a.test_size, metric=a.metric, task=a.task, grace_s=a.grace, timeout_s=a.timeout, cores=a.cores,
                startup_timeout_s=a.startup_timeout, memory=a.memory,
                drop=a.drop or None, drop_missing_target=a.drop_missing_target,
                readiness=not a.no_check, build=not a.no_build)


def _installed() -> List[str]:
    import automux
    return [b["name"] for b in automux.backends() if b["available"]]


def cmd_run(a: argparse.Namespace, store: Any) -> int:
    import automux
    from ..progress import Progress

    record = automux.run(a.data, a.target, a.backend, options=_options(a.option), store=store, inline=a.inline,
                         progress=Progress(), **_experiment_args(a))
    if a.json:
        _emit(_run_summary(record, store))
    else:
        if "selection" in record.extra:
            print(_selection_line(record))
        print(_leaderboard_text([record]))
        if record.error:
            print(f"error: {record.error}")
    return EXIT_OK if record.status == "ok" else EXIT_RUN_FAILED


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _selection_line(record: Any) -> str:
    """``--backend auto``: the choice, its top reasons and where the evidence came from, on one line."""
    sel = record.extra["selection"]
    top = next((r for r in sel.get("ranking") or [] if r.get("backend") == record.backend), {})
    reasons = sorted(top.get("reasons") or [], key=lambda w: -abs(w.get("points") or 0))[:3]
    ev = sel.get("evidence") or {}
    where = ev.get("source") or "none"
    if ev.get("files"):
        where += f" ({', '.join(ev['files'])}; {ev.get('datasets', 0)} datasets)"
    strategy = sel.get("strategy") or {}
    if strategy.get("strategy") == "best_fixed" and strategy.get("choice") == record.backend:  # automux.select.strategy
        m = strategy["means"][record.backend]
        why = (f"best fixed for this budget: mean normalised score {m['mean']:.2f} over {m['data_sets']} data sets "
               f"under {strategy['evidence_constraint']}, the strategy the evidence supports"
               + (f"; the selector's ranking put {strategy['selector_choice']} first"
                  if strategy.get("selector_choice") not in (None, record.backend) else ""))
        return f"auto: chose {record.backend}: {why}; evidence: {where}"
    return (f"auto: chose {record.backend} (score {top.get('score', 0):+.2f}) because "
            + ("; ".join(f"{_clip(w['reason'])} ({w['points']:+.2f})" for w in reasons) or "no rule fired")
            + f"; evidence: {where}")


def cmd_compare(a: argparse.Namespace, store: Any) -> int:
    import automux
    from ..progress import Progress

    names = _installed() if a.backends == "installed" else [b.strip() for b in a.backends.split(",") if b.strip()]
    opts = _options(a.option)
    spec, records = automux.compare(a.data, a.target, names, options={n: opts for n in names}, store=store,
                                    inline=a.inline, progress=Progress(), jobs=a.jobs, executor=a.executor,
                                    scheduler=a.scheduler, ensemble=a.ensemble, warm=not a.no_warm,
                                    **_experiment_args(a))
    # -- compare --ensemble (automux.governance.ensemble): the ensemble comes last --
    ens, ens_note = None, None
    if a.ensemble:
        from ..governance.ensemble import ENSEMBLE_BACKEND
        if records and records[-1].backend == ENSEMBLE_BACKEND:
            ens, records = records[-1], records[:-1]
        else:
            ens_note = "no ensemble: fewer than two ok runs have out-of-fold predictions (see their extra.oof)"
    if a.json:
        out: Dict[str, Any] = {"spec_id": spec.spec_id, "results": [_run_summary(r, store) for r in records]}
        if a.ensemble:
            out["ensemble"] = _run_summary(ens, store) if ens is not None else {"error": ens_note}
        _emit(out)
    else:
        print(f"spec {spec.spec_id}: {spec.data['source']} ({spec.task}), metric {spec.metric}, seed {spec.seed}")
        print(_leaderboard_text(records))
        if ens is not None:
            info = ens.extra["ensemble"]
            print(f"ensemble {ens.run_id}: holdout {spec.metric} {_fmt(ens.score)}, oof {_fmt(info['oof_score'])} "
                  f"(best member {info['best_member']['backend']} {_fmt(info['best_member']['oof_score'])}); weights "
                  + ", ".join(f"{m['backend']}={m['weight']:.2f}" for m in info["members"]))
        elif ens_note:
            print(ens_note)
    return EXIT_OK if all(r.status == "ok" for r in records) else EXIT_RUN_FAILED
