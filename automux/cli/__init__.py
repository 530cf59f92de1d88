"""``automux ...``: a thin layer over the library. Exit codes: 0 ok, 1 a run failed, 2 bad input."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, NoReturn, Optional, Sequence

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A bad command line: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _budget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="CSV / Parquet path or bundled source (sklearn:breast_cancer)")
    p.add_argument("--target", help="target column (bundled sources have a default)")
    p.add_argument("--task", choices=["binary", "multiclass", "regression"], help="inferred when omitted")
    p.add_argument("--budget-trials", type=int, help="number of candidates (deterministic runs possible)")
    p.add_argument("--budget-seconds", type=float, help="wall seconds for the search")
    p.add_argument("--grace", type=float, help="seconds past the budget before the worker is killed (default 15)")
    p.add_argument("--seed", type=int, default=0, help="master seed; every other seed is derived (default 0)")
    p.add_argument("--folds", type=int, default=5, help="CV folds (default 5)")
    p.add_argument("--test-size", type=float, default=0.25, help="hold-out share (default 0.25)")
    p.add_argument("--metric", help="roc_auc, log_loss, accuracy, balanced_accuracy, rmse, mae, r2")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option (repeatable; VALUE parsed as JSON when it can be)")
    p.add_argument("--inline", action="store_true", help="run in this process (debugging; no hard deadline)")
    p.add_argument("--no-check", action="store_true", help="skip the readiness check (and the gain over baselines)")
    p.add_argument("--no-build", action="store_true", help="refuse to build a missing isolated backend env")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="automux", description="Many AutoML backends behind one reproducibility contract.")
    parser.add_argument("--store", help="run store directory (default ./automux-runs or $AUTOMUX_STORE)")
    parser.add_argument("--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("backends", help="adapters found, whether each can run here; imports no backend")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="one run under the contract")
    _budget_args(p)
    p.add_argument("--backend", required=True)

    p = sub.add_parser("compare", help="the same spec on several backends, one leaderboard")
    _budget_args(p)
    p.add_argument("--backends", required=True, help="comma list, or `installed` for every available one")

    p = sub.add_parser("verify", help="re-run a recorded spec and compare")
    p.add_argument("run_id")
    p.add_argument("--data", help="the data again, when the run was made from a DataFrame")
    p.add_argument("--inline", action="store_true")
    p.add_argument("--json", action="store_true")

    for module in _extension_modules():
        module.add_parser(sub)

    runs = sub.add_parser("runs", help="the run store")
    runs_sub = runs.add_subparsers(dest="runs_command", parser_class=_Parser)
    p = runs_sub.add_parser("list", help="every run, oldest first")
    p.add_argument("--backend")
    p.add_argument("--promoted", action="store_true", help="only runs with a promoted candidate")
    p.add_argument("--json", action="store_true")
    p = runs_sub.add_parser("show", help="one run record")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    return parser


#: Command modules that add their own subcommands: each has ``add_parser(sub)``
#: (registering subcommands whose ``handler`` default is ``run(args, store) -> int``).
#: They must import no backend library at module level.
EXTENSION_COMMANDS = (
    "automux.cli.contracts",
    "automux.cli.env",
    "automux.cli.bench",
    "automux.cli.select",
    "automux.cli.governance",
)


def _extension_modules() -> List[Any]:
    import importlib

    out = []
    for name in EXTENSION_COMMANDS:
        try:
            out.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name is None or not name.startswith(e.name):
                raise
    return out


def _options(pairs: Sequence[str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {pair!r}: write it as KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _experiment_args(a: argparse.Namespace) -> Dict[str, Any]:
    return dict(budget_trials=a.budget_trials, budget_seconds=a.budget_seconds, seed=a.seed, folds=a.folds,
                test_size=a.test_size, metric=a.metric, task=a.task, grace_s=a.grace,
                readiness=not a.no_check, build=not a.no_build)


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _run_summary(record: Any, store: Any) -> Dict[str, Any]:
    d = record.summary()
    d["record"] = str(store.run_dir(record.run_id) / "record.json")
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
    text = f"{g['mean_gain']:+.4f} ±{g.get('fold_spread') or 0:.4f}"
    return text + (" fragile" if g.get("fragile") else "")


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.5f}"


def _leaderboard_text(records: Sequence[Any]) -> str:
    rows = [[str(i + 1), r.backend, r.status, _fmt(r.score), _gain_text(r), str(len(r.candidates)),
             f"{r.durations['total']:.1f}", (r.predictions_sha256 or "-")[:12], r.run_id]
            for i, r in enumerate(records)]
    metric = records[0].metric if records else "score"
    return _table(rows, ["rank", "backend", "status", metric, "gain vs baseline", "candidates", "seconds",
                         "predictions", "run_id"])


def cmd_backends(a: argparse.Namespace) -> int:
    import automux

    found = automux.backends()
    failures = automux.plugin_failures()
    if a.json:
        _emit(found if not failures else found + [{"name": f["plugin"], "available": False,
                                                    "reason": f"plugin failed to load: {f['error']}",
                                                    "env": None, "capabilities": None} for f in failures])
        return EXIT_OK
    rows = [[b["name"], "yes" if b["available"] else "no", b["env"]["name"], ",".join(b["capabilities"]["tasks"]),
             b["reason"] or ""] for b in found]
    rows += [[f["plugin"], "no", "-", "-", f"plugin failed to load: {f['error']}"] for f in failures]
    print(_table(rows, ["backend", "available", "env", "tasks", "reason"]))
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
        print(_leaderboard_text([record]))
        if record.error:
            print(f"error: {record.error}")
    return EXIT_OK if record.status == "ok" else EXIT_RUN_FAILED


def cmd_compare(a: argparse.Namespace, store: Any) -> int:
    import automux
    from ..progress import Progress

    names = _installed() if a.backends == "installed" else [b.strip() for b in a.backends.split(",") if b.strip()]
    opts = _options(a.option)
    spec, records = automux.compare(a.data, a.target, names, options={n: opts for n in names}, store=store,
                                    inline=a.inline, progress=Progress(), **_experiment_args(a))
    if a.json:
        _emit({"spec_id": spec.spec_id, "results": [_run_summary(r, store) for r in records]})
    else:
        print(f"spec {spec.spec_id}: {spec.data['source']} ({spec.task}), metric {spec.metric}, seed {spec.seed}")
        print(_leaderboard_text(records))
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
    if a.runs_command == "list":
        rows = store.list(backend=a.backend, promoted=a.promoted)
        if a.json:
            _emit(rows)
        else:
            print(_table([[r["run_id"], r["backend"], r["status"], r["metric"], _fmt(r["score"]),
                           (r["predictions_sha256"] or "-")[:12], r["spec_id"]] for r in rows],
                         ["run_id", "backend", "status", "metric", "score", "predictions", "spec_id"]))
        return EXIT_OK
    if a.runs_command == "show":
        record = store.load(a.run_id)
        if a.json:
            _emit(record.to_json())
        else:
            d = record.summary()
            for k, v in d.items():
                print(f"{k:20} {v}")
            print(f"{'record':20} {store.run_dir(record.run_id) / 'record.json'}")
        return EXIT_OK
    raise UsageError("runs needs a subcommand: list or show")


def main(argv: Optional[Sequence[str]] = None) -> int:
    from ..core.errors import UserError

    parser = build_parser()
    try:
        a = parser.parse_args(argv)
        if a.version:
            from .._version import __version__
            print(__version__)
            return EXIT_OK
        if a.command is None:
            parser.print_help()
            return EXIT_USAGE
        if a.command == "backends":
            return cmd_backends(a)
        from ..core.run.store import RunStore
        store = RunStore(a.store)
        builtin = {"run": cmd_run, "compare": cmd_compare, "verify": cmd_verify, "runs": cmd_runs}
        handler = builtin.get(a.command) or getattr(a, "handler")
        return handler(a, store)
    except (UsageError, UserError) as e:
        sys.stderr.write(f"automux: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("automux: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
