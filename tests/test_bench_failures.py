"""A cell that cannot run is a row with its reason; the grid goes on; --retry-failed reruns it."""
from __future__ import annotations

import pytest

pytest.importorskip("yaml")

from automux.bench import run_suite
from automux.bench.results import read_results
from automux.bench.suite import suite_from_dict


@pytest.mark.slow
def test_failed_cells_are_rows_with_their_reason(tmp_path):
    suite = suite_from_dict({
        "name": "failures", "datasets": ["sklearn:iris"], "cv_folds": 2,
        "constraints": ["trials2"],
        "backends": ["reference", {"name": "optuna", "options": {"no_such_option": 1}}],
    })
    summary = run_suite(suite, tmp_path / "out", progress=False)
    assert summary.ran == 2 and summary.remaining == 0
    df = read_results(tmp_path / "out").set_index("framework")
    assert df.loc["reference", "status"] == "ok" and df.loc["reference", "result"] < 0
    bad = df.loc["optuna"]
    assert bad["status"] == "failed" and "no_such_option" in bad["info"]
    assert bad["metric"] == "neg_logloss" and bad["type"] == "multiclass"

    # Finished (even failed) cells are not rerun; --retry-failed reruns exactly the failed ones.
    assert run_suite(suite, tmp_path / "out", progress=False).ran == 0
    again = run_suite(suite, tmp_path / "out", progress=False, retry_failed=True)
    assert again.ran == 1 and again.already_done == 1


def test_an_unknown_backend_is_refused_before_any_cell_runs(tmp_path):
    """A name no adapter has is a typo, not a result (issue 11): one line, exit 2, nothing ran."""
    from automux.core.errors import BackendNotFound

    suite = suite_from_dict({"name": "typo", "datasets": ["sklearn:iris"], "cv_folds": 2,
                             "constraints": ["trials2"], "backends": ["reference", "no-such-backend"]})
    with pytest.raises(BackendNotFound, match="no-such-backend"):
        run_suite(suite, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "results.csv").exists()


@pytest.mark.slow
def test_perf_script_measures_the_overhead_ratio(tmp_path):
    """benchmarks/perf/overhead.py stays runnable: the reference backend, one pair, no budget runs."""
    import csv
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "perf" / "overhead.py"
    r = subprocess.run([sys.executable, str(script), "--backends", "reference", "--reps", "1", "--trials", "2",
                        "--data", "sklearn:iris", "--skip-budget", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    row = next(csv.DictReader(open(tmp_path / "summary.csv")))
    assert row["backend"] == "reference" and row["same_predictions"] == "1/1"
    assert float(row["ratio_median"]) > 0 and float(row["automux_wall_s"]) > 0
    assert "| reference |" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_a_cell_that_finished_ok_as_the_bench_was_interrupted_keeps_its_row(tmp_path):
    """The race CI met: a run ends ok, then the interrupt lands before its row is written.

    The row must be written (a resumed bench would otherwise run the cell to completion
    twice); a cell whose run did not finish ok under the interrupt writes nothing.
    """
    from automux.bench.cellrun import run_cell
    from automux.bench.cells import expand
    from automux.bench.results import read_cells

    suite = suite_from_dict({
        "name": "race", "datasets": ["sklearn:iris"], "cv_folds": 2, "constraints": ["trials2"],
        "backends": ["reference", {"name": "optuna", "options": {"no_such_option": 1}}],
    })
    ok_cell, failing_cell = expand(suite)
    out = tmp_path / "out"
    row = run_cell(ok_cell, out, cancelled=lambda: True)
    assert row is not None and row["status"] == "ok"
    assert run_cell(failing_cell, out, cancelled=lambda: True) is None
    assert set(read_cells(out)) == {ok_cell.cell_id}
