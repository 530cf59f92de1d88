"""A warm runtime across runs (issue 22): a compare or bench keeps H2O's JVM up, isolated, and leaves nothing.

The pool's mechanics (lend, reuse, one run at a time, discard after a kill, a runtime lent while it starts,
everything stopped however the caller ends, a start cancelled) are tested with a fake runtime (a sleeping process: tests/fake_warm_adapters.py); H2O itself
with a real JVM on tiny data under a count budget: a warm run gives the cold run's candidates and
predictions, and an interrupted bench leaves no JVM (three JVM starts in all).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from automux.core.experiment.prepare import make_budget, prepare
from automux.core.run import processes
from automux.executors import compare_all

ROOT = Path(__file__).resolve().parents[1]


def _exp(data: str = "sklearn:iris", **budget):
    return prepare(data, budget=make_budget(**(budget or {"trials": 1})), seed=3)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purpose
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _startup(rec):
    return rec.extra["startup"]


def _runtime(rec):
    return _startup(rec).get("runtime") or (_startup(rec).get("facts") or {}).get("runtime")


# -- the pool, with a fake runtime ---------------------------------------------------------------------------


def test_a_compare_lends_one_runtime_to_its_runs_of_one_backend_and_stops_it(store, fakes_on_path, tmp_path):
    from fake_warm_adapters import FakeWarmAdapter

    used = tmp_path / "used"
    recs = compare_all(_exp(), [FakeWarmAdapter(), FakeWarmAdapter(), FakeWarmAdapter()], store=store,
                       options={"fake-warm": {"used_file": str(used)}})
    assert [r.status for r in recs] == ["ok"] * 3
    pids = [int(p) for p in used.read_text().split()]
    assert len(pids) == 3 and len(set(pids)) == 1  # one runtime served the three runs, one at a time
    assert [_startup(r)["warm"] for r in recs] == [False, True, True]  # the first run started it
    assert [_runtime(r)["runs_served"] for r in recs] == [0, 1, 2]
    assert not _alive(pids[0])  # stopped when the compare returned
    assert processes.own_groups() == []
    # the same predictions as runs that start cold
    cold = compare_all(_exp(), [FakeWarmAdapter()], store=store, options={}, warm=False)[0]
    assert _startup(cold)["warm"] is False and _runtime(cold) is None
    assert {r.predictions_sha256 for r in recs} == {cold.predictions_sha256}


def test_no_warm_a_single_run_and_an_adapter_that_declines_stay_cold(store, fakes_on_path, tmp_path):
    from fake_warm_adapters import FakeWarmAdapter

    import automux

    used = tmp_path / "used"
    opts = {"used_file": str(used)}
    recs = compare_all(_exp(), [FakeWarmAdapter(), FakeWarmAdapter()], store=store,
                       options={"fake-warm": opts}, warm=False)
    recs += compare_all(_exp(), [FakeWarmAdapter(), FakeWarmAdapter()], store=store,
                        options={"fake-warm": dict(opts, cold=True)})
    # a compare naming the backend once has no later run to serve: its run starts its own
    recs += compare_all(_exp(), [FakeWarmAdapter()], store=store, options={"fake-warm": opts})
    recs.append(automux.run("sklearn:iris", backend=FakeWarmAdapter(), options=opts, store=store,
                            budget_trials=1, seed=3, readiness=False))
    assert all(r.status == "ok" for r in recs)
    assert not used.exists()  # no run was lent a runtime
    assert all(_startup(r)["warm"] is False for r in recs)


def test_with_jobs_each_run_in_flight_has_its_own_runtime(store, fakes_on_path, tmp_path):
    from fake_warm_adapters import FakeWarmAdapter

    used = tmp_path / "used"
    recs = compare_all(_exp(), [FakeWarmAdapter() for _ in range(4)], store=store, jobs=2,
                       options={"fake-warm": {"used_file": str(used), "sleep": 0.5}})
    assert [r.status for r in recs] == ["ok"] * 4
    pids = [int(p) for p in used.read_text().split()]
    assert len(pids) == 4 and len(set(pids)) == 2  # two at a time: two runtimes, each reused once
    spans = sorted((_runtime(r)["pid"], _runtime(r)["runs_served"]) for r in recs)
    assert [s[1] for s in spans] == [0, 1, 0, 1]
    assert not any(_alive(p) for p in set(pids))


def test_a_runtime_whose_run_was_killed_is_never_lent_again(store, fakes_on_path, tmp_path):
    from fake_warm_adapters import FakeWarmAdapter

    used = tmp_path / "used"
    opts = {"used_file": str(used), "sleep": 30.0, "ignore_deadline": True}
    exp = _exp(seconds=1.0, grace_s=1.0)
    recs = compare_all(exp, [FakeWarmAdapter() for _ in range(3)], store=store, options={"fake-warm": opts})
    assert [r.status for r in recs] == ["timeout"] * 3  # each killed at its hard stop
    first, second = (int(p) for p in used.read_text().split())  # the last run (none after it) starts its own
    assert first != second and _runtime(recs[1])["runs_served"] == 0  # a fresh runtime, not the killed run's
    assert _runtime(recs[2]) is None
    assert not _alive(first) and not _alive(second)


_SCRIPT = textwrap.dedent("""
    import sys
    from automux.cli import main
    from automux.core import plugins
    from automux.core.hookspecs import hookimpl
    from fake_warm_adapters import FakeOverlapAdapter, FakeWarmAdapter

    class Plugin:
        @hookimpl
        def automux_adapters(self):
            return [FakeWarmAdapter(), FakeOverlapAdapter()]

    plugins.register(Plugin(), name="fake-warm-plugin")
    sys.exit(main(["compare", "--data", "sklearn:iris", "--target", "target", "--backends",
                   "{backend},{backend}", "--budget-trials", "2", "--no-check", "--store", {store!r}] + {options!r}))
""")


def _compare_process(tmp_path: Path, backend: str = "fake-warm",
                     options: "tuple[str, ...]" = ("sleep=20",)) -> "tuple[subprocess.Popen, Path]":
    """``automux compare`` over ``backend`` twice, in a child process (the fakes registered as a plugin), SIGINT
    at its default as a user's shell leaves it (a test run in the background of a non-interactive shell
    inherits SIGINT ignored, and automux keeps an ignored SIGINT ignored, as ``nohup`` asks)."""
    used = tmp_path / "used"
    opts = [x for o in (f"used_file={used}",) + tuple(options) for x in ("--option", o)]
    script = _SCRIPT.format(store=str(tmp_path / "runs"), backend=backend, options=opts)
    # TMPDIR: a SIGKILLed compare cannot remove its pool's (empty) directory; let it be the test's
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]), TMPDIR=str(tmp_path))
    return subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_default_sigint), used


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(path: Path, timeout: float = 60.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return int(path.read_text().split()[0])
        time.sleep(0.1)
    raise AssertionError(f"{path} never written")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_an_ended_compare_leaves_no_runtime(tmp_path, how):
    proc, used = _compare_process(tmp_path)
    try:
        pid = _wait_for(used)
        assert _alive(pid)
        proc.send_signal(how)
        out = proc.communicate(timeout=60)[0].decode()
        if how == signal.SIGTERM:
            assert proc.returncode == 143, out
        end = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _alive(pid), out  # SIGTERM: the pool stopped it; SIGKILL: it died with its thread
    finally:
        if proc.poll() is None:
            proc.kill()


def test_an_overlapping_runtime_is_lent_while_it_starts_and_a_failed_start_runs_cold(store, fakes_on_path, tmp_path):
    from fake_warm_adapters import FakeOverlapAdapter

    used = tmp_path / "used"
    opts = {"used_file": str(used), "start_s": 1.0, "runtime_pid_file": str(tmp_path / "rt")}
    recs = compare_all(_exp(), [FakeOverlapAdapter() for _ in range(3)], store=store, options={"fake-overlap": opts})
    assert [r.status for r in recs] == ["ok"] * 3
    facts = [_startup(r)["facts"] for r in recs]
    # the first run's worker was launched with the lease still pending: it ran while the runtime started
    assert [f.get("lent_pending") for f in facts] == [True, False, False]
    assert [_startup(r)["warm"] for r in recs] == [False, True, True]
    pids = [int(p) for p in used.read_text().split()]
    assert len(set(pids)) == 1 and not _alive(pids[0])
    # a runtime that never starts: each run says why and goes on without it; nothing is left
    recs = compare_all(_exp(), [FakeOverlapAdapter(), FakeOverlapAdapter()], store=store,
                       options={"fake-overlap": dict(opts, fail=True, start_s=0.2)})
    assert [r.status for r in recs] == ["ok"] * 2
    assert "did not start" in _startup(recs[0])["facts"]["lent_error"]
    assert _runtime(recs[0]) is None and _runtime(recs[1]) is None
    assert not any(_alive(int(p)) for p in (tmp_path / "rt").read_text().split())
    assert processes.own_groups() == []


def test_an_interrupt_while_the_runtime_starts_leaves_nothing(tmp_path):
    """SIGINT while the lent runtime is still starting (its worker waiting for it): 130, both gone."""
    proc, _used = _compare_process(tmp_path, "fake-overlap", (f"runtime_pid_file={tmp_path / 'rt'}", "start_s=120"))
    try:
        pid = _wait_for(tmp_path / "rt")
        worker = None
        end = time.monotonic() + 60
        while worker is None and time.monotonic() < end:  # the worker, launched while the runtime starts
            worker = next((p for p in processes.children(proc.pid) if p != pid), None)
            time.sleep(0.1)
        assert worker is not None and _alive(pid)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0].decode()
        assert proc.returncode == 130, out
        end = time.monotonic() + 10
        while (_alive(pid) or _alive(worker)) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _alive(pid) and not _alive(worker), out
    finally:
        if proc.poll() is None:
            proc.kill()


# -- H2O, with a real JVM (three starts in all) ---------------------------------------------------------------

h2o_missing = None
try:
    from automux.adapters import h2o as _ha
    h2o_missing = _ha.H2OAdapter().unavailable_reason()
except ImportError as e:  # pragma: no cover - the h2o extra is not installed
    h2o_missing = str(e)
needs_h2o = pytest.mark.skipif(h2o_missing is not None, reason=f"h2o cannot run here: {h2o_missing}")


def _cands(rec):
    return [(c.algorithm, c.params, c.fold_scores) for c in rec.candidates]


@pytest.mark.slow
@needs_h2o
def test_h2o_on_a_warm_jvm_gives_the_cold_runs_candidates_and_predictions(tmp_path):
    import automux

    args = dict(budget_trials=4, seed=3, readiness=False, store=str(tmp_path / "runs"))
    cold = automux.run("sklearn:iris", backend="h2o", **args)
    _, board = automux.compare("sklearn:iris", backends=["h2o", "h2o"], **args)
    runs = sorted(board, key=lambda r: _runtime(r)["runs_served"])  # the leaderboard sorts by score
    assert [r.status for r in [cold] + runs] == ["ok"] * 3, [r.error for r in [cold] + runs]
    assert _startup(cold)["warm"] is False and _runtime(cold) is None  # a single run starts its own JVM
    fresh, warm = runs
    assert (_startup(fresh)["warm"], _startup(warm)["warm"]) == (False, True)
    assert _runtime(fresh)["pid"] == _runtime(warm)["pid"] and _runtime(warm)["runs_served"] == 1
    assert _runtime(warm)["port"] == _runtime(fresh)["port"]
    # isolation: the second run on the JVM saw nothing of the first (its models, frames, ensembles)
    assert len(cold.candidates) >= 3 and "stackedensemble" in [c.algorithm for c in cold.candidates]
    assert _cands(warm) == _cands(fresh) == _cands(cold)
    assert warm.predictions_sha256 == fresh.predictions_sha256 == cold.predictions_sha256
    assert warm.durations["startup"] < cold.durations["startup"]  # connecting, not starting a JVM
    assert not _alive(_runtime(warm)["pid"])  # stopped when the compare returned


@pytest.mark.slow
@needs_h2o
def test_an_interrupted_h2o_bench_leaves_no_jvm(tmp_path):
    """SIGINT while a cell runs on the bench's warm JVM: exit 130, the JVM and the worker gone."""
    import json

    suite = tmp_path / "suite.yaml"
    suite.write_text("name: warm\ndatasets: [sklearn:iris]\nfolds: 1\ncv_folds: 3\nseeds: [0, 1, 2]\n"
                     "constraints: [trials4]\nbackends: [h2o]\n")
    out = tmp_path / "bench"
    proc = subprocess.Popen([sys.executable, "-m", "automux", "bench", str(suite), "--out", str(out),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), preexec_fn=_default_sigint)
    try:
        lent, end = None, time.monotonic() + 300
        while lent is None and time.monotonic() < end and proc.poll() is None:
            for job in out.glob("runs/*/job.json"):
                try:
                    lent = json.loads(job.read_text()).get("warm")
                    if lent and lent.get("pending"):  # lent while the JVM starts: wait until it answers
                        lent = json.loads(Path(lent["pending"]).read_text())
                except (OSError, ValueError):
                    lent = None  # being written, or the JVM not up yet
                if lent:
                    break
            time.sleep(0.2)
        assert lent, "no cell was lent a JVM"
        worker = processes.children(proc.pid)
        assert _alive(lent["pid"])
        proc.send_signal(signal.SIGINT)
        text = proc.communicate(timeout=120)[0].decode()
        assert proc.returncode == 130, text[-3000:]
        end = time.monotonic() + 10
        while (_alive(lent["pid"]) or any(_alive(p) for p in worker)) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _alive(lent["pid"]), text[-3000:]
        assert not any(_alive(p) for p in worker)
    finally:
        if proc.poll() is None:
            proc.kill()
