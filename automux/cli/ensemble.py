"""``automux ensemble RUN_ID RUN_ID...``: a greedy ensemble of stored runs of one spec, stored as a run.

Exit codes: 0 ok, 2 bad input (runs of different specs, a member without
out-of-fold predictions, a failed run, ...: one line saying what to do).
"""
from __future__ import annotations

import argparse
from typing import Any

from ._common import add_store, emit as _emit, fmt as _fmt, table as _table


def add_parser(sub: Any) -> None:
    """Register ``ensemble``."""
    p = sub.add_parser("ensemble", help="greedy ensemble selection (Caruana) over runs of one spec, stored as a run")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="member runs (two or more, of one spec)")
    p.add_argument("--size", type=int, default=None, help="selection steps, with replacement (default 25)")
    p.add_argument("--data", help="the data again, when the runs were made from an in-memory DataFrame")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_store(p)
    p.set_defaults(handler=cmd_ensemble)


def cmd_ensemble(a: argparse.Namespace, store: Any) -> int:
    from ..governance.ensemble import DEFAULT_SIZE, build_ensemble

    record = build_ensemble(a.run_ids, store=store, size=DEFAULT_SIZE if a.size is None else a.size, data=a.data)
    info = record.extra["ensemble"]
    if a.json:
        _emit({"run_id": record.run_id, "status": record.status, "backend": record.backend, "metric": record.metric,
               "score": record.score, "predictions_sha256": record.predictions_sha256,
               "candidates": len(record.candidates), "duration_s": record.durations["total"],
               "record": str(store.run_dir(record.run_id) / "record.json"), "members": info["members"],
               "oof_score": info["oof_score"], "best_member": info["best_member"]})
        return 0
    print(_table([[m["run_id"], m["backend"], m["algorithm"], f"{m['weight']:.3f}", _fmt(m["oof_score"]),
                   _fmt(m["holdout_score"])] for m in info["members"]],
                 ["member", "backend", "algorithm", "weight", f"oof {record.metric}", f"holdout {record.metric}"]))
    print(f"ensemble {record.run_id}: oof {record.metric} {_fmt(info['oof_score'])} (best member "
          f"{_fmt(info['best_member']['oof_score'])}), holdout {record.metric} {_fmt(record.score)}")
    return 0
