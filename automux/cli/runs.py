"""The run commands: ``backends``, ``run``, ``compare``, ``verify``, ``runs list|show``.

Each handler takes ``(args, store)`` and returns the exit code: 0 ok, 1 a run
failed (its record is stored), 2 bad input (``UserError`` / ``UsageError``).
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, List, Sequence

from ._common import (EXIT_OK, EXIT_RUN_FAILED, UsageError, add_budget, add_data, add_split, add_store, emit as _emit,
                      fmt as _fmt, parse_options as _options, table as _table)


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
    """Register ``backends``, ``run``, ``compare``, ``verify`` and ``runs``."""
    p = sub.add_parser("backends", help="adapters found, whether each can run here; imports no backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_backends)

    p = _experiment_parser(sub, "run", "one run under the contract")
    p.add_argument("--backend", required=True)
    p.set_defaults(handler=cmd_run)

    p = _experiment_parser(sub, "compare", "the same spec on several backends, one leaderboard")
    p.add_argument("--backends", required=True, help="comma list, or `installed` for every available one")
    p.add_argument("--jobs", type=int, default=1, help="backends run side by side (default 1)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local processes (default) or an existing Dask cluster (with --scheduler)")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (with --executor dask)")
    p.add_argument("--ensemble", action="store_true",  # issue 16
                   help="then a greedy ensemble of the ok runs with out-of-fold predictions, stored as a run")
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("verify", help="re-run a recorded spec and compare")
    p.add_argument("run_id")
    p.add_argument("--data", help="the data again, when the run was made from a DataFrame")
    p.add_argument("--inline", action="store_true")
    p.add_argument("--json", action="store_true")
    add_store(p)
    p.set_defaults(handler=cmd_verify)

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


def _experiment_args(a: argparse.Namespace) -> Dict[str, Any]:
    return dict(budget_trials=a.budget_trials, budget_seconds=a.budget_seconds, seed=a.seed, folds=a.folds,
                test_size=a.test_size, metric=a.metric, task=a.task, grace_s=a.grace, timeout_s=a.timeout, cores=a.cores,
                startup_timeout_s=a.startup_timeout, memory=a.memory,
                drop=a.drop or None, drop_missing_target=a.drop_missing_target,
                readiness=not a.no_check, build=not a.no_build)


def _chosen(record: Any) -> Any:
    return next((c for c in record.candidates if c.index == record.chosen), None)


def _cv(record: Any) -> "tuple[Any, Any]":
    """The chosen candidate's CV score (mean over folds) and fold spread (std), or Nones."""
    import statistics
    c = _chosen(record)
    scored = [s for s in (c.fold_scores if c else []) if s is not None]
    return (statistics.fmean(scored) if scored else None, statistics.pstdev(scored) if len(scored) > 1 else None)


def _run_summary(record: Any, store: Any) -> Dict[str, Any]:
    d = record.summary()
    d["record"] = str(store.run_dir(record.run_id) / "record.json")
    c = _chosen(record)
    d["algorithm"] = c.algorithm if c else None
    d["cv_score"], d["cv_spread"] = _cv(record)
    d["holdout_ci"] = record.extra.get("holdout_ci")
    if "gain" in record.extra:
        g = record.extra["gain"]
        d["gain"] = {k: g.get(k) for k in ("baseline", "mean_gain", "fold_spread", "fragile")}
    if "readiness" in record.extra:
        ready = record.extra["readiness"]
        d["readiness"] = {"verdict": ready["verdict"], "warnings": ready["warnings"]}
    return d


def _gain_text(record: Any) -> str:
    g = record.extra.get("gain") or {}
    if not g.get("available", True) or g.get("mean_gain") is None:
        return "-"
    return f"{g['mean_gain']:+.4f} ±{g.get('fold_spread') or 0:.4f}"


def _secs(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}"


def _leaderboard_text(records: Sequence[Any]) -> str:
    """Best hold-out score first: how sure (bootstrap 95 % interval), what won, what it cost, what CV said."""
    from ..core.run.leaderboard import ci_text

    rows = []
    for i, r in enumerate(records):
        c = _chosen(r)
        cv, spread = _cv(r)
        g = r.extra.get("gain") or {}
        rows.append([str(i + 1), r.backend, r.status + (" degenerate" if r.extra.get("degenerate") else ""),
                     ci_text(r), c.algorithm if c else "-", _fmt(cv), _fmt(spread),
                     _secs(r.durations.get("search")), _secs(r.durations.get("startup")),
                     _secs(r.durations.get("predict")), str(len(r.candidates)), _gain_text(r),
                     "fragile" if g.get("fragile") else "-", (r.predictions_sha256 or "-")[:12], r.run_id])
    metric = records[0].metric if records else "score"
    return _table(rows, ["rank", "backend", "status", f"holdout {metric} [95% CI]", "algorithm", "cv mean",
                         "cv spread", "search s", "startup s", "predict s", "candidates", "cv gain vs baseline",
                         "fragile", "predictions", "run_id"])


def cmd_backends(a: argparse.Namespace, store: Any = None) -> int:
    """Every adapter with where it came from; plugin problems (load errors, hook errors, duplicate names) too."""
    import automux

    found = automux.backends()
    failures = [{"name": f["plugin"], "available": False, "reason": f"plugin problem: {f['error']}",
                 "env": None, "capabilities": None, "origin": None} for f in automux.plugin_failures()]
    if a.json:
        _emit(found + failures)
        return EXIT_OK
    def source(b: Dict[str, Any]) -> str:
        o = b.get("origin") or {}
        return f"{o['distribution']} {o.get('version') or ''}".strip() if o.get("distribution") else "-"
    rows = [[b["name"], "yes" if b["available"] else "no", b["env"]["name"], ",".join(b["capabilities"]["tasks"]),
             source(b), b["reason"] or ""] for b in found]
    rows += [[f["name"], "no", "-", "-", "-", f["reason"]] for f in failures]
    print(_table(rows, ["backend", "available", "env", "tasks", "from", "reason"]))
    return EXIT_OK


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
                                    scheduler=a.scheduler, ensemble=a.ensemble, **_experiment_args(a))
    # -- issue 16: compare --ensemble (automux.governance.ensemble): the ensemble comes last --
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


def cmd_verify(a: argparse.Namespace, store: Any) -> int:
    import automux
    from ..progress import Progress

    out = automux.verify(a.run_id, store=store, data=a.data, inline=a.inline, progress=Progress())
    if a.json:
        _emit(out)
    else:
        print(f"{a.run_id} vs {out['rerun_id']}: {out['verdict']}")
    return EXIT_OK if out["verdict"] != "different" else EXIT_RUN_FAILED


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
