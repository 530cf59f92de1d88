"""``automux select``: the selector on the command line (import-light)."""
from __future__ import annotations

import argparse
from typing import Any

from ._common import add_data, emit


def add_parser(sub: Any) -> None:
    p = sub.add_parser("select", help="profile + constraints -> ranked backends with reasons")
    add_data(p)
    p.add_argument("--budget-seconds", type=float, help="the time budget the run will get")
    p.add_argument("--budget-trials", type=int, help="the count budget the run will get")
    p.add_argument("--interpretable", action="store_true", help="interpretability required (no ensembles)")
    p.add_argument("--deterministic", action="store_true", help="determinism required")
    p.add_argument("--cluster", action="store_true", help="a cluster is available")
    p.add_argument("--memory-gb", type=float)
    p.add_argument("--no-env-builds", action="store_true", help="isolated envs may not be built here")
    p.add_argument("--installed-only", action="store_true", help="only backends that can run now")
    p.add_argument("--evidence", action="append", help="benchmark results.csv file or dir (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def constraints_from_args(a: argparse.Namespace) -> Any:
    from ..select.rules import Constraints

    return Constraints(time_budget_s=a.budget_seconds, trials=a.budget_trials, interpretable=a.interpretable,
                       deterministic=a.deterministic, cluster=a.cluster, memory_gb=a.memory_gb,
                       allow_env_builds=not a.no_env_builds, installed_only=a.installed_only)


def run(a: argparse.Namespace, store: Any) -> int:
    from ..select.evidence import default_result_files, default_result_files_under
    from ..select.selector import select

    files = None
    if a.evidence:
        import os

        from ..core.errors import DataError
        from ..core.inputs import check_bench_results
        for path in a.evidence:  # a missing or unrelated file is refused, never silently dropped
            if os.path.isdir(path):
                if not default_result_files_under(path):
                    raise DataError(f"--evidence {path!r}: no results.csv under it: give a bench's --out "
                                    "directory or its results.csv")
            else:
                check_bench_results(path, "--evidence")
        os.environ["AUTOMUX_BENCH_RESULTS"] = os.pathsep.join(a.evidence)
        files = default_result_files()
        for f in files:
            check_bench_results(f, "--evidence")
    sel = select(a.data, a.target, constraints_from_args(a), task=a.task, result_files=files, drop=a.drop or None,
                 drop_missing_target=a.drop_missing_target)
    if a.json:
        emit(sel.to_json())
        return 0
    p = sel.profile
    print(f"profile: {p.rows} rows, {p.features} features ({p.numeric} numeric, {p.categorical} categorical, "
          f"{p.text} text, {p.datetime} datetime), {p.missing_share:.1%} missing, {p.task}")
    for i, r in enumerate(sel.ranking, 1):
        print(f"{i}. {r['backend']}  score {r['score']:+.2f}")
        for why in r["reasons"]:
            print(f"     {why['points']:+.2f}  {why['reason']}")
    for e in sel.excluded:
        print(f"excluded {e['backend']}: {e['reason']} [{e['rule']}]")
    return 0 if sel.ranking else 1
