"""What every ``automux`` command shares: exit codes, the usage error, JSON and table output, shared options.

Import-light: argparse and the standard library only; the defaults come from
the contract's own constants so that the CLI and the library cannot drift.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, NoReturn, Optional, Sequence

from ..core.errors import UserError

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
#: 128 + the signal number, as shells report a process ended by a signal.
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class UsageError(UserError):
    """A bad command line: one line on stderr, exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are :class:`UsageError` (one line, exit 2) instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def emit(obj: Any) -> None:
    """Print ``obj`` as indented JSON (``--json`` output)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def table(rows: List[List[str]], header: List[str]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.5f}"


def parse_options(pairs: Sequence[str], flag: str = "--option") -> Dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; VALUE is parsed as JSON when it can be."""
    out: Dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {pair!r}: write it as KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def add_store(p: argparse.ArgumentParser) -> None:
    """``--store`` on a subcommand too (``automux run --store DIR``); the root's value is kept when absent."""
    p.add_argument("--store", default=argparse.SUPPRESS,
                   help="run store directory (default ./automux-runs or $AUTOMUX_STORE)")


def add_data(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--data``, ``--target``, ``--task``."""
    from ..core.capabilities import TASK_NAMES

    p.add_argument("--data", required=required, help="CSV / Parquet path or bundled source (sklearn:breast_cancer)")
    p.add_argument("--target", help="target column (bundled sources have a default)")
    p.add_argument("--task", choices=list(TASK_NAMES), help="inferred when omitted")
    p.add_argument("--drop", action="append", default=[], metavar="COL",
                   help="remove a column before anything else, e.g. an id or R's row names (repeatable)")
    p.add_argument("--drop-missing-target", action="store_true",
                   help="drop the rows whose target is missing (their count is recorded) instead of refusing them")


def add_split(p: argparse.ArgumentParser) -> None:
    """``--seed``, ``--folds``, ``--test-size``, ``--metric`` with the library's defaults."""
    from ..core.experiment.prepare import DEFAULT_FOLDS, DEFAULT_SEED, DEFAULT_TEST_SIZE

    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"master seed; every other seed is derived (default {DEFAULT_SEED})")
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help=f"CV folds (default {DEFAULT_FOLDS})")
    p.add_argument("--test-size", type=float, default=DEFAULT_TEST_SIZE,
                   help=f"hold-out share (default {DEFAULT_TEST_SIZE})")
    p.add_argument("--metric", help="roc_auc, log_loss, accuracy, balanced_accuracy, rmse, mae, r2")


def add_budget(p: argparse.ArgumentParser) -> None:
    """``--budget-trials``, ``--budget-seconds``, ``--grace``, ``--timeout``, ``--startup-timeout``."""
    from ..core.experiment.budget import DEFAULT_GRACE_S, DEFAULT_STARTUP_TIMEOUT_S, DEFAULT_TIMEOUT_S

    p.add_argument("--budget-trials", type=int, help="number of candidates (deterministic runs possible)")
    p.add_argument("--budget-seconds", type=float, help="wall seconds for the search")
    p.add_argument("--grace", type=float,
                   help=f"seconds past the budget before the worker is killed (default {DEFAULT_GRACE_S:g})")
    p.add_argument("--timeout", type=float,
                   help=f"wall cap of every run, count budgets included (default {DEFAULT_TIMEOUT_S:g} s); "
                        "a capped run keeps its candidates with status timeout")
    p.add_argument("--startup-timeout", type=float,
                   help=f"seconds the worker may take to get ready (backend imports, a JVM or Dask cluster up) "
                        f"before the budget clock starts; not search time (default {DEFAULT_STARTUP_TIMEOUT_S:g})")
    p.add_argument("--cores", help="cores every backend may use: a number or `all` (default 1: repeatable runs)")
    p.add_argument("--memory", help="memory the worker's processes may hold, e.g. 4G or 512M, or `all` (default 75%% "
                                    "of this machine); past it the run ends failed, its candidates kept")


# -- the leaderboard and run summaries: shared by ``run``, ``compare`` and ``runs`` (handlers import on use) --

def chosen(record: Any) -> Any:
    return next((c for c in record.candidates if c.index == record.chosen), None)


def cv_of(record: Any) -> "tuple[Any, Any]":
    """The chosen candidate's CV score (mean over folds) and fold spread (std), or Nones."""
    import statistics
    c = chosen(record)
    scored = [s for s in (c.fold_scores if c else []) if s is not None]
    return (statistics.fmean(scored) if scored else None, statistics.pstdev(scored) if len(scored) > 1 else None)


def run_summary(record: Any, store: Any) -> Dict[str, Any]:
    d = record.summary()
    d["record"] = str(store.run_dir(record.run_id) / "record.json")
    c = chosen(record)
    d["algorithm"] = c.algorithm if c else None
    d["cv_score"], d["cv_spread"] = cv_of(record)
    d["holdout_ci"] = record.extra.get("holdout_ci")
    if "gain" in record.extra:
        g = record.extra["gain"]
        d["gain"] = {k: g.get(k) for k in ("baseline", "mean_gain", "fold_spread", "fragile")}
    if "readiness" in record.extra:
        ready = record.extra["readiness"]
        d["readiness"] = {"verdict": ready["verdict"], "warnings": ready["warnings"]}
    return d


def gain_text(record: Any) -> str:
    g = record.extra.get("gain") or {}
    if not g.get("available", True) or g.get("mean_gain") is None:
        return "-"
    return f"{g['mean_gain']:+.4f} ±{g.get('fold_spread') or 0:.4f}"


def secs(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}"


def leaderboard_text(records: Sequence[Any]) -> str:
    """Best hold-out score first: how sure (bootstrap 95 % interval), what won, what it cost, what CV said."""
    from ..core.run.leaderboard import ci_text

    rows = []
    for i, r in enumerate(records):
        c = chosen(r)
        cv, spread = cv_of(r)
        g = r.extra.get("gain") or {}
        rows.append([str(i + 1), r.backend, r.status + (" degenerate" if r.extra.get("degenerate") else ""),
                     ci_text(r), c.algorithm if c else "-", fmt(cv), fmt(spread),
                     secs(r.durations.get("search")), secs(r.durations.get("startup")),
                     secs(r.durations.get("predict")), str(len(r.candidates)), gain_text(r),
                     "fragile" if g.get("fragile") else "-", (r.predictions_sha256 or "-")[:12], r.run_id])
    metric = records[0].metric if records else "score"
    return table(rows, ["rank", "backend", "status", f"holdout {metric} [95% CI]", "algorithm", "cv mean",
                         "cv spread", "search s", "startup s", "predict s", "candidates", "cv gain vs baseline",
                         "fragile", "predictions", "run_id"])
