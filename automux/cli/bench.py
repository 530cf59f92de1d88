"""``automux bench SUITE --out DIR`` and ``automux report DIR``; imports nothing heavy at module level."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    """Register the ``bench`` and ``report`` subcommands."""
    p = sub.add_parser("bench", help="run a benchmark suite (datasets x folds x seeds x backends x constraints)")
    p.add_argument("suite", help="suite file (YAML), e.g. benchmarks/suites/smoke.yaml")
    p.add_argument("--out", required=True, help="output directory (reuse it to resume)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="where cells run: local processes (default) or a Dask cluster")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (with --executor dask)")
    p.add_argument("--scheduler-timeout", type=float, default=20.0,
                   help="seconds to wait for the Dask scheduler (default 20)")
    p.add_argument("--jobs", type=int, default=1, help="local executor: cells at a time (default 1)")
    p.add_argument("--retry-failed", action="store_true", help="rerun finished cells whose status is not ok")
    p.add_argument("--max-cells", type=int, help="run at most N cells now; the rest stay to do")
    p.add_argument("--no-warm", action="store_true",
                   help="every cell starts its own backend runtime (default: an H2O JVM is kept up across cells)")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(handler=cmd_bench)

    p = sub.add_parser("report", help="Markdown + HTML report with plots from a bench directory")
    p.add_argument("dir", help="the --out directory of `automux bench`")
    p.add_argument("--json", action="store_true", help="print the paths written as JSON")
    p.set_defaults(handler=cmd_report)


def cmd_bench(a: argparse.Namespace, store: Any) -> int:
    """Exit 0: every cell finished ok; 1: some cell failed or is still to do; 2: bad input; 128 + signal: interrupted."""
    from ..bench import run_suite

    # SIGINT, SIGTERM and SIGHUP stop the bench alike (cli.main turns them into an
    # interrupt): running workers are ended, finished cells are kept, a rerun resumes.
    from ..core.run.interrupts import signal_of

    try:
        summary = run_suite(a.suite, a.out, executor=a.executor, scheduler=a.scheduler,
                            scheduler_timeout=a.scheduler_timeout, jobs=a.jobs,
                            retry_failed=a.retry_failed, max_cells=a.max_cells, progress=not a.no_progress,
                            warm=not a.no_warm)
    except KeyboardInterrupt as e:
        sys.stderr.write("automux: bench interrupted; finished cells are kept: rerun the same command to resume\n")
        return 128 + signal_of(e)
    if a.json:
        sys.stdout.write(json.dumps(summary.to_json(), indent=2) + "\n")
    else:
        st = ", ".join(f"{v} {k}" for k, v in sorted(summary.statuses.items())) or "nothing new"
        print(f"{summary.total} cells: {summary.already_done} already done, {summary.ran} ran ({st}); "
              f"{summary.remaining} still to do")
        for lost in summary.lost:
            print(f"lost (runs again next time): {lost}")
        print(f"results: {summary.results_csv}")
    ok = summary.remaining == 0 and not summary.lost and set(summary.statuses) <= {"ok"}
    return 0 if ok else 1


def cmd_report(a: argparse.Namespace, store: Any) -> int:
    import os

    from ..bench import make_report
    from ..core.errors import DataError
    from ..core.inputs import check_bench_results

    if not os.path.isdir(a.dir):
        raise DataError(f"{a.dir!r} is not a directory: give the --out directory of `automux bench`")
    results = os.path.join(a.dir, "results.csv")
    if not os.path.lexists(results):
        raise DataError(f"no results file {results}: run `automux bench SUITE --out {a.dir}` first")
    check_bench_results(results, "results.csv in")
    paths = make_report(a.dir)
    if a.json:
        sys.stdout.write(json.dumps(paths, indent=2) + "\n")
    else:
        print(f"report: {paths['markdown']}\n        {paths['html']}\nplots:  {len(paths['plots'])} PNG files")
    return 0
