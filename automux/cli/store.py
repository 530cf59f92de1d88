"""``automux runs list|show|leaderboard|delete|prune|reindex``: the run store.

(``runs export-mlflow`` is registered by :mod:`automux.cli.mlflow`.)
"""
from __future__ import annotations

import argparse
from typing import Any, Dict

from ._common import (EXIT_OK, UsageError, add_store, emit as _emit, fmt as _fmt,
                      leaderboard_text as _leaderboard_text, run_summary as _run_summary, secs as _secs,
                      table as _table)


def add_parser(sub: Any) -> None:
    """Register ``runs`` and its subcommands."""
    runs = sub.add_parser("runs", help="the run store")
    runs.set_defaults(handler=cmd_runs)
    runs_sub = runs.add_subparsers(dest="runs_command", parser_class=type(runs))
    p = runs_sub.add_parser("list", help="every run, oldest first")
    p.add_argument("--backend")
    p.add_argument("--promoted", action="store_true", help="only runs with a promoted candidate")
    p.add_argument("--spec", dest="spec_id", metavar="SPEC_ID", help="only the runs of this spec")
    p.add_argument("--data", metavar="SOURCE_OR_FINGERPRINT",
                   help="only the runs of this data: its source as given, or its fingerprint (a prefix will do)")
    p.add_argument("--json", action="store_true")
    add_store(p)
    p = runs_sub.add_parser("show", help="one run record, with its candidates best first")
    p.add_argument("run_id")
    p.add_argument("--top", type=int, default=10, metavar="N", help="candidates shown (default 10; 0: all)")
    p.add_argument("--json", action="store_true")
    add_store(p)
    p = runs_sub.add_parser("leaderboard", help="every ok run of one spec, best hold-out score first (later runs too)")
    p.add_argument("spec_id")
    p.add_argument("--json", action="store_true")
    add_store(p)
    p = runs_sub.add_parser("delete", help="delete runs, then the stored data no remaining run uses")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    p.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    p.add_argument("--json", action="store_true")
    add_store(p)
    p = runs_sub.add_parser("prune", help="delete the runs every given rule selects (promoted runs are kept)")
    p.add_argument("--keep-last", type=int, metavar="N", help="spare the newest N runs")
    p.add_argument("--status", metavar="STATUS,...", help="only runs with these statuses, e.g. failed,timeout")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="only runs created more than DAYS days ago")
    p.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    p.add_argument("--json", action="store_true")
    add_store(p)
    p = runs_sub.add_parser("reindex", help="rebuild the index from the run directories (unreadable records named)")
    p.add_argument("--json", action="store_true")
    add_store(p)


def cmd_runs(a: argparse.Namespace, store: Any) -> int:
    handler = {"list": _runs_list, "show": _runs_show, "leaderboard": _runs_leaderboard, "delete": _runs_delete,
               "prune": _runs_prune, "reindex": _runs_reindex}.get(a.runs_command)
    if handler is None:
        raise UsageError("runs needs a subcommand: list, show, leaderboard, delete, prune or reindex")
    return handler(a, store)


def _runs_list(a: argparse.Namespace, store: Any) -> int:
    import automux
    rows = automux.runs(store, backend=a.backend, promoted=a.promoted, spec_id=a.spec_id, data=a.data)
    if a.json:
        _emit(rows)
    else:
        print(_table([[r["run_id"], r["backend"], r["status"], r["metric"], _fmt(r["score"]),
                       (r["predictions_sha256"] or "-")[:12], r["spec_id"]] for r in rows],
                     ["run_id", "backend", "status", "metric", "score", "predictions", "spec_id"]))
    return EXIT_OK


def _runs_show(a: argparse.Namespace, store: Any) -> int:
    from ..core.run.integrity import check_record
    record = store.load(a.run_id)
    check_record(record, store.run_dir(a.run_id))  # a hand-edited record is named, not shown as true
    if a.json:
        _emit(record.to_json())
        return EXIT_OK
    from ..core.run.leaderboard import ci_text
    for k, v in record.summary().items():
        print(f"{k:20} {v}")
    print(f"{'holdout [95% CI]':20} {ci_text(record)}")
    print(f"{'record':20} {store.run_dir(record.run_id) / 'record.json'}")
    print(_candidates_text(a.run_id, store, a.top))
    from ..governance.importance import importance_lines
    for line in importance_lines(record):
        print(line)
    return EXIT_OK


def _candidates_text(run_id: str, store: Any, top: int) -> str:
    """The run's candidates best CV score first (``Predictor.leaderboard``), the chosen one marked."""
    import automux
    board = automux.load(run_id, store=store).leaderboard()
    shown = board if top <= 0 else board.head(top)
    rows = [["*" if r.chosen else "", str(r.candidate), r.algorithm, _fmt(r.cv_score), _fmt(r.cv_std),
             r.folds_scored, _secs(r.fit_time_s)] for r in shown.itertuples()]
    more = f"\n({len(board) - len(shown)} more: --top 0 shows all)" if len(shown) < len(board) else ""
    return (f"candidates ({len(board)}, best first, * chosen):\n"
            + _table(rows, ["", "candidate", "algorithm", "cv mean", "cv spread", "folds", "fit s"]) + more)


def _runs_leaderboard(a: argparse.Namespace, store: Any) -> int:
    import automux
    records = automux.runs_leaderboard(a.spec_id, store=store)
    if a.json:
        _emit({"spec_id": a.spec_id, "results": [_run_summary(r, store) for r in records]})
    else:
        print(_leaderboard_text(records) if records else f"no ok run of spec {a.spec_id}")
    return EXIT_OK


def _deleted_text(out: Dict[str, Any]) -> str:
    verb = "would delete" if out["dry_run"] else "deleted"
    lines = [f"{verb} {len(out['deleted'])} run(s), {len(out['data_removed'])} data file(s); "
             f"{'at least ' if out['dry_run'] else ''}{out['bytes_freed']:,} bytes "
             f"{'would be ' if out['dry_run'] else ''}freed"]
    return "\n".join(lines + [f"  {r}" for r in out["deleted"]])


def _runs_delete(a: argparse.Namespace, store: Any) -> int:
    import automux
    out = automux.delete_runs(a.run_ids, store=store, dry_run=a.dry_run)
    _emit(out) if a.json else print(_deleted_text(out))
    return EXIT_OK


def _runs_prune(a: argparse.Namespace, store: Any) -> int:
    import automux
    status = [s.strip() for s in a.status.split(",") if s.strip()] if a.status else None
    out = automux.prune_runs(store=store, keep_last=a.keep_last, status=status, older_than_days=a.older_than,
                             dry_run=a.dry_run)
    _emit(out) if a.json else print(_deleted_text(out))
    return EXIT_OK


def _runs_reindex(a: argparse.Namespace, store: Any) -> int:
    n = store.reindex()
    if a.json:
        _emit({"indexed": n, "skipped": [{"run_dir": d, "reason": why} for d, why in store.skipped]})
    else:
        print(f"indexed {n} run(s) from {store.root}")
        for d, why in store.skipped:
            print(f"skipped {d}: {why}")
    return EXIT_OK
