"""Benchmarks: suite files, the grid of cells, local and Dask executors, AMLB results, the report.

Library twins of the CLI: :func:`run_suite` (``automux bench``) and
:func:`make_report` (``automux report``). Importing this package imports
nothing heavy (no pandas, matplotlib or Dask): the CLI lists it on every call.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .runner import BenchSummary
    from .suite import Suite

__all__ = ["run_suite", "make_report", "load_suite"]


def run_suite(suite: Any, out: Any, **kwargs: Any) -> "BenchSummary":
    """Run a suite into ``out`` (resumable); see :func:`automux.bench.runner.run_suite`."""
    from .runner import run_suite as _run

    return _run(suite, out, **kwargs)


def make_report(out_dir: Any) -> Any:
    """Write the report of a bench directory; see :func:`automux.bench.report.make_report`."""
    from .report import make_report as _make

    return _make(out_dir)


def load_suite(path: Any) -> "Suite":
    """Read and validate a suite file; see :func:`automux.bench.suite.load_suite`."""
    from .suite import load_suite as _load

    return _load(path)
