"""``automux bench`` then ``automux report`` as a user runs them: the smoke suite, interrupted and resumed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("yaml")
pytest.importorskip("matplotlib")

from automux.bench.results import COLUMNS, read_cells, read_results
from helpers import run_cli  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "benchmarks" / "suites" / "smoke.yaml"


def _procs_mentioning(text: str) -> list:
    """Live processes whose command line mentions ``text`` (the bench's out dir)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if text in cmd and state != "Z":
                out.append((int(entry), cmd))
    return out


def _records_by_cell(out: Path) -> dict:
    by_cell: dict = {}
    for rec in (out / "runs").glob("*/record.json"):
        r = json.loads(rec.read_text())
        by_cell.setdefault(r["extra"].get("bench_cell"), []).append(r)
    return by_cell


def _lean_smoke(tmp_path: Path) -> Path:
    """The smoke suite's grid (2 data sets x 2 backends x 2 folds x 2 repeats = 16 cells) at 2 trials on
    2 CV folds instead of 5 on 3: each cell costs a worker start-up plus a search a third the size."""
    import yaml

    suite = yaml.safe_load(SMOKE.read_text())
    suite.update(constraints=["trials2"], cv_folds=2)
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


@pytest.mark.slow
def test_smoke_bench_interrupted_then_resumed_then_reported(tmp_path):
    """The smoke grid, interrupted after its first cell, resumed, reported. Every cell, fold, repeat and
    report section of the smoke suite is there; only the trials (2) and CV folds (2) are fewer, which no
    assertion here depends on (the cells run no faster than a worker starts, so the interrupt still lands
    mid-grid)."""
    out = tmp_path / "bench"
    smoke = _lean_smoke(tmp_path)
    cmd = [sys.executable, "-m", "automux", "bench", str(smoke), "--out", str(out), "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None and not read_cells(out):
        time.sleep(0.2)
    assert proc.poll() is None, f"the bench ended before it could be interrupted: {proc.communicate()}"
    time.sleep(1.0)  # let the next cells get going, so the interrupt lands mid-run
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err  # 128 + SIGTERM (issue 11: the exit code names the signal)
    assert "rerun the same command to resume" in err
    first = read_cells(out)
    assert 1 <= len(first) < 16
    time.sleep(0.5)
    assert not _procs_mentioning(str(out)), "a worker outlived the interrupted bench"
    # Interrupted cells left no row; finished ones have theirs in results.csv already.
    assert len(read_results(out)) == len(first)

    done = run_cli("bench", str(smoke), "--out", str(out), "--jobs", "2", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"16 cells, {len(first)} already done, {16 - len(first)} to run" in done.stderr
    cells = read_cells(out)
    assert len(cells) == 16
    for cid, body in first.items():
        assert cells[cid] == body, "a finished cell was rerun"
    for cid, recs in _records_by_cell(out).items():
        ok = [r for r in recs if r["status"] == "ok"]
        assert len(ok) <= 1, f"cell {cid} ran to completion twice"

    df = read_results(out)
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert len(df) == 16 and set(df["status"]) == {"ok"} and set(df["mode"]) == {"local"}
    assert set(df["metric"]) == {"neg_logloss", "neg_rmse"} and (df["result"] < 0).all()
    assert set(df["framework"]) == {"reference", "optuna"} and set(df["fold"]) == {0, 1}
    # Count budgets: a repeat gives bitwise the same predictions.
    pairs = df.groupby(["task", "framework", "fold", "seed"])["predictions_sha256"].nunique()
    assert (pairs == 1).all(), pairs

    rep = run_cli("report", str(out), "--json")
    assert rep.returncode == 0, rep.stderr
    paths = json.loads(rep.stdout)
    md = Path(paths["markdown"]).read_text()
    for section in ("Mean rank per backend", "Score per data set", "Score against wall time", "Budget adherence",
                    "Failures", "Determinism across repeats"):
        assert f"## {section}" in md
    assert len(paths["plots"]) >= 5
    for png in paths["plots"]:
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{Path(png).name}" in md and f"plots/{Path(png).name}" in Path(paths["html"]).read_text()


def test_report_of_an_empty_directory_is_a_user_error(tmp_path):
    r = run_cli("report", str(tmp_path))
    assert r.returncode == 2 and "no results file" in r.stderr and "Traceback" not in r.stderr


def test_bench_with_a_bad_suite_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [sklearn:iris]\nconstraints: [fast]\nbackends: [reference]\n")
    r = run_cli("bench", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "unknown constraint 'fast'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("bench", str(SMOKE), "--out", str(tmp_path / "o"), "--executor", "dask")
    assert r.returncode == 2 and "--scheduler" in r.stderr


def test_dask_scheduler_unreachable_is_a_user_error(tmp_path):
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli("bench", str(SMOKE), "--out", str(tmp_path / "o"), "--executor", "dask",
                "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "3")
    assert r.returncode == 2 and "cannot reach the Dask scheduler" in r.stderr, r.stderr[-2000:]
