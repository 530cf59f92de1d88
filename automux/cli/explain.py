"""``automux explain RUN_ID``: permutation importance on the run's hold-out, computed by automux (import-light).

Prints one line per feature (mean drop of the spec's metric when the column
is permuted, ± its std over the repeats), largest first; ``--json`` prints
what :func:`automux.governance.importance.compute` returns.

Exit codes: 0 computed and stored in the record, 1 the predict job failed,
2 bad input (unknown run, run not ok, changed data, a DataFrame run without
``--data``): ``cli.main`` handles ``UserError``.
"""
from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, EXIT_RUN_FAILED, add_store
from ._common import emit as _emit


def add_parser(sub: Any) -> None:
    """Register ``explain``."""
    from ..governance.importance import DEFAULT_MAX_ROWS, DEFAULT_REPEATS

    p = sub.add_parser("explain", help="permutation importance on a run's hold-out, the same for every backend")
    p.add_argument("run_id")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                   help=f"permutations per feature (default {DEFAULT_REPEATS})")
    p.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS,
                   help=f"hold-out rows used at most, a seeded sample beyond (default {DEFAULT_MAX_ROWS})")
    p.add_argument("--seed", type=int, help="permutation seed (default: derived from the run's master seed)")
    p.add_argument("--data", help="the data again, when the run was made from a DataFrame")
    p.add_argument("--no-save", action="store_true", help="do not store the result in the run record")
    p.add_argument("--no-build", action="store_true", help="refuse to build a missing isolated backend env")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_store(p)
    p.set_defaults(handler=cmd_explain)


def cmd_explain(a: argparse.Namespace, store: Any) -> int:
    from ..governance.importance import PredictFailed, compute, importance_lines

    try:
        result = compute(a.run_id, store=store, data=a.data, n_repeats=a.repeats, max_rows=a.max_rows,
                         seed=a.seed, build=not a.no_build, save=not a.no_save)
    except PredictFailed as e:
        print(f"error: {e}")
        return EXIT_RUN_FAILED
    if a.json:
        _emit(result)
        return EXIT_OK
    for line in importance_lines(_Shown(result), top=len(result["features"])):
        print(line)
    if result["baseline_matches_record"] is False:
        print("warning: the unpermuted hold-out predictions differ from the run's recorded predictions_sha256")
    return EXIT_OK


class _Shown:
    """A record-like object holding only the importance (for :func:`importance_lines`)."""

    def __init__(self, result: Any) -> None:
        self.extra = {"importance": result}
