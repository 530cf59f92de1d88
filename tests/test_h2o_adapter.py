"""The h2o adapter against a real H2O JVM: determinism, tasks, budgets, and a JVM that never leaks.

Every JVM these tests cause is found by its command line (``h2o.jar`` plus a path
under this session's pytest temp dir), so concurrent test runs elsewhere on the
machine neither hide nor fake a leak.
"""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Set, Tuple

import numpy as np
import pandas as pd
import pytest

from automux.adapters import h2o as ha
from helpers import run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(ha.H2OAdapter().unavailable_reason() is not None,
                       reason=f"h2o cannot run here: {ha.H2OAdapter().unavailable_reason()}"),
]


# ---------------------------------------------------------------------------------------------
# /proc helpers: which H2O JVMs run, what they listen on
# ---------------------------------------------------------------------------------------------

def h2o_jvms(marker: str) -> Set[int]:
    """Pids of live ``h2o.jar`` processes whose command line mentions ``marker``."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "h2o.jar" in cmd and marker in cmd and state != "Z":
            pids.add(int(entry))
    return pids


def wait_gone(pids: Set[int], timeout: float = 10.0) -> Set[int]:
    """The pids among ``pids`` still alive after up to ``timeout`` seconds."""
    end = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < end:
        alive = {p for p in alive if _alive(p)}
        time.sleep(0.1)
    return alive


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _decode_addr(hex_addr: str) -> ipaddress._BaseAddress:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.IPv6Address(words)
    return addr.ipv4_mapped or addr


def sockets_of(pid: int) -> List[Tuple[str, ipaddress._BaseAddress, int]]:
    """(proto, local address, port) of the listening TCP and bound UDP sockets ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if inode in inodes and (proto.startswith("udp") or state == "0A"):  # 0A: LISTEN
                host, port = local.split(":")
                out.append((proto, _decode_addr(host), int(port, 16)))
    return out


@pytest.fixture(scope="module", autouse=True)
def no_jvm_left_by_this_module(tmp_path_factory):
    marker = str(tmp_path_factory.getbasetemp())
    before = h2o_jvms(marker)
    yield
    ha.shutdown()
    assert wait_gone(h2o_jvms(marker) - before) == set(), "an H2O JVM started by these tests is still running"


@pytest.fixture
def no_jvm_left(tmp_path):
    yield tmp_path
    ha.shutdown()
    assert wait_gone(h2o_jvms(str(tmp_path))) == set(), "the run left its H2O JVM running"


def cli_json(*args: str, timeout: float = 400) -> dict:
    """``automux ARGS --json`` without the readiness baselines (they are not the adapter's to test)."""
    proc = run_cli(*args, "--no-check", "--json", timeout=timeout)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return json.loads(proc.stdout)


def record_of(result: dict) -> dict:
    return json.loads(Path(result["record"]).read_text())


# ---------------------------------------------------------------------------------------------
# Budget -> H2OAutoML settings (no JVM)
# ---------------------------------------------------------------------------------------------

def _settings(trials=None, seconds=None, deadline_in=None, **options):
    from automux.core.adapter import SearchTask
    from automux.core.experiment.budget import Budget
    from automux.core.experiment.metrics import get_metric

    task = SearchTask(X=pd.DataFrame({"a": [0.0]}), y=np.zeros(1), task="binary", classes=["0", "1"], folds=[],
                      metric=get_metric("roc_auc", "binary"), seed=7, budget=Budget(trials=trials, seconds=seconds),
                      options=options, workdir=Path("."),
                      deadline=None if deadline_in is None else time.monotonic() + deadline_in)
    return ha._automl_settings(task)


def test_count_budget_counts_ensembles_as_trials_and_excludes_deep_learning():
    small = _settings(trials=3)
    assert small["max_models"] == 3 and set(small["exclude_algos"]) == {"DeepLearning", "StackedEnsemble"}
    big = _settings(trials=10)
    assert big["max_models"] == 8 and big["exclude_algos"] == ["DeepLearning"]
    assert _settings(trials=10, exclude_algos=["StackedEnsemble"])["max_models"] == 10
    assert _settings(trials=2, include_algos="GLM,GBM")["include_algos"] == ["GLM", "GBM"]
    assert big["seed"] == 7 and big["sort_metric"] == "auc" and "max_runtime_secs" not in big


def test_seconds_budget_caps_automl_and_falls_back_to_one_glm_when_time_is_short():
    roomy = _settings(seconds=60, deadline_in=55)
    assert 48 <= roomy["max_runtime_secs"] <= 51 and "max_models" not in roomy  # 55 s left less 1.5 s + 5 %
    short = _settings(seconds=30, deadline_in=12)
    assert short["max_models"] == 1 and short["include_algos"] == ["GLM"] and "max_runtime_secs" not in short
    # validated before start_up and the budget clock (no deadline yet): the whole budget is left
    assert _settings(seconds=60)["max_runtime_secs"] == int(60 - 1.5 - 0.05 * 60)


@pytest.mark.parametrize("options", [{"urll": "http://127.0.0.1:54321"}, {"url": "127.0.0.1:54321"},
                                     {"nthreads": 0}, {"max_mem_size": "1GB"}, {"exclude_algos": ["Foo"]},
                                     {"include_algos": ["GLM"], "exclude_algos": ["GBM"]}])
def test_bad_options_are_refused_before_any_worker_starts(options):
    from automux.core.errors import SpecError
    with pytest.raises(SpecError):
        ha.H2OAdapter().check_options(options)


def test_include_algos_that_leave_nothing_under_the_budget_are_refused():
    from automux.core.errors import SpecError
    with pytest.raises(SpecError):
        _settings(trials=2, include_algos=["StackedEnsemble"])


# ---------------------------------------------------------------------------------------------
# Runs through the CLI: the worker, its deadline, its record
# ---------------------------------------------------------------------------------------------

def test_count_budget_gives_identical_predictions_and_candidates(no_jvm_left):
    store = str(no_jvm_left / "runs")
    args = ("--store", store, "compare", "--data", "sklearn:breast_cancer", "--backends", "h2o",
            "--budget-trials", "4", "--seed", "3")
    first, second = cli_json(*args)["results"][0], cli_json(*args)["results"][0]
    assert first["status"] == second["status"] == "ok", (first, second)
    assert first["predictions_sha256"] == second["predictions_sha256"]
    a, b = record_of(first), record_of(second)
    assert [(c["algorithm"], c["fold_scores"]) for c in a["candidates"]] == \
           [(c["algorithm"], c["fold_scores"]) for c in b["candidates"]]
    assert 2 <= len(a["candidates"]) <= 4  # two base models plus its ensemble(s), never over the budget
    assert "stackedensemble" in [c["algorithm"] for c in a["candidates"]]
    assert a["determinism"]["declared_deterministic"] is True
    assert a["score"] > 0.95  # roc_auc on breast_cancer's hold-out


# H2O under a seconds budget ending within budget + grace (30 s, its declared minimum) is
# tests/test_contracts.py's check_seconds_budget_respected[h2o]: the same run, not repeated here.


def test_missing_java_is_a_user_error_that_says_how_to_install_it(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty)
    proc = subprocess.run([sys.executable, "-m", "automux", "--store", str(tmp_path / "runs"), "run", "--data",
                           "sklearn:iris", "--backend", "h2o", "--budget-trials", "1"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "Java" in proc.stderr and "openjdk-17" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# The JVM's lifecycle
# ---------------------------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from automux.adapters import h2o as ha
ha.start_cluster({}, Path(sys.argv[1]))
print("JVM", ha._SESSION.local.pid, flush=True)
time.sleep(300)
"""


def _start_holder(workdir: Path) -> Tuple[subprocess.Popen, int]:
    """A process (own session) that starts a private cluster the adapter's way and waits."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("JVM "):
            return proc, int(line.split()[1])
    proc.wait()
    pytest.fail(f"the holder did not start a cluster (exit {proc.returncode}): {''.join(seen)[-2000:]}")


def test_jvm_listens_only_on_loopback_and_dies_on_sigterm(no_jvm_left):
    holder, jvm = _start_holder(no_jvm_left)
    try:
        socks = sockets_of(jvm)
        assert any(proto.startswith("tcp") for proto, _, _ in socks), socks
        assert all(addr.is_loopback for _, addr, _ in socks), socks
        assert os.getpgid(jvm) == os.getpgid(holder.pid), "the JVM left its parent's process group"
        assert (no_jvm_left / ha.CHILD_PIDS).read_text().split() == [str(jvm)]
        os.kill(holder.pid, signal.SIGTERM)  # the holder alone, not its group
        assert holder.wait(timeout=20) == -signal.SIGTERM
        assert wait_gone({jvm}, 5) == set()
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)


def test_sigkilled_parent_takes_its_jvm_along(no_jvm_left):
    holder, jvm = _start_holder(no_jvm_left)
    try:
        os.kill(holder.pid, signal.SIGKILL)  # no handler, no atexit: only PR_SET_PDEATHSIG acts
        holder.wait(timeout=10)
        assert wait_gone({jvm}, 10) == set()
    finally:
        if _alive(jvm):
            os.kill(jvm, signal.SIGKILL)


def test_killed_worker_leaves_no_jvm(no_jvm_left):
    store = no_jvm_left / "runs"
    cli = subprocess.Popen([sys.executable, "-m", "automux", "--store", str(store), "run", "--data",
                            "sklearn:breast_cancer", "--backend", "h2o", "--budget-trials", "6", "--no-check", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        jvms: Set[int] = set()
        while not jvms and time.monotonic() < end and cli.poll() is None:
            time.sleep(0.5)
            jvms = {p for p in h2o_jvms(str(store)) if any(s[0].startswith("tcp") for s in sockets_of(p))}
        assert jvms, "no H2O JVM came up"
        (jvm,) = jvms
        worker = int(Path(f"/proc/{jvm}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(worker, signal.SIGKILL)
        out, err = cli.communicate(timeout=60)
        assert json.loads(out)["status"] == "crashed", err[-2000:]
        assert wait_gone({jvm}, 5) == set()
    finally:
        if cli.poll() is None:
            cli.kill()


def test_worker_killed_at_the_deadline_leaves_no_jvm(no_jvm_left):
    res = cli_json("--store", str(no_jvm_left / "runs"), "run", "--data", "sklearn:iris", "--backend", "h2o",
                   "--budget-seconds", "5", "--grace", "0")
    assert res["status"] == "timeout"
    pids = Path(res["record"]).parent / "scratch" / ha.CHILD_PIDS
    if not pids.exists():
        pytest.skip("the deadline came before the worker started its JVM (a slow machine)")
    jvm = int(pids.read_text().split()[0])
    assert wait_gone({jvm}, 5) == set()


def test_failed_search_stops_its_jvm(no_jvm_left):
    from automux.core.errors import SpecError

    task, _, _ = _diabetes_task(no_jvm_left, trials=2)
    task.options["include_algos"] = ["StackedEnsemble"]  # refused once the cluster is up
    with pytest.raises(SpecError):
        ha.H2OAdapter().search(task)
    jvm = int((no_jvm_left / ha.CHILD_PIDS).read_text().split()[0])
    assert ha._SESSION.local is None
    assert wait_gone({jvm}, 5) == set()


@pytest.fixture(scope="module")
def existing_cluster(tmp_path_factory):
    """An H2O cluster that is not the adapter's: started here, on 127.0.0.1, and shut down here."""
    cluster = ha.LocalH2O(tmp_path_factory.mktemp("existing-cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


def test_never_attaches_to_a_server_already_on_its_port(existing_cluster, no_jvm_left, monkeypatch):
    ports = iter([existing_cluster.port])
    real = ha.free_port_pair
    monkeypatch.setattr(ha.cluster, "free_port_pair", lambda tries=200: next(ports, None) or real())
    ha.start_cluster({}, no_jvm_left)
    import h2o
    ours = ha._SESSION.local
    assert ours.port != existing_cluster.port
    assert h2o.cluster().cloud_name == ours.name
    assert [n["pid"] for n in h2o.cluster().nodes] == [ours.pid]
    ha.shutdown()
    assert existing_cluster.running()


def test_multiclass_iris_on_an_existing_cluster_given_by_url_which_is_never_stopped(existing_cluster, no_jvm_left):
    url = f"http://127.0.0.1:{existing_cluster.port}"
    res = cli_json("--store", str(no_jvm_left / "runs"), "run", "--data", "sklearn:iris", "--backend", "h2o",
                   "--budget-trials", "2", "--seed", "3", "--option", f"url={url}")
    assert res["status"] == "ok", record_of(res).get("error")
    rec = record_of(res)
    assert rec["metric"] == "log_loss" and res["score"] < 0.5
    assert len(rec["candidates"]) == 2
    assert all(len(c["fold_scores"]) == 5 and None not in c["fold_scores"] for c in rec["candidates"])
    best = min(rec["candidates"], key=lambda c: float(np.mean(c["fold_scores"])))
    assert rec["chosen"] == best["index"]  # chosen by automux's metric, not H2O's leaderboard
    scratch = Path(res["record"]).parent / "scratch"
    assert not (scratch / ha.CHILD_PIDS).exists() and not (scratch / "h2o").exists()  # no JVM of its own
    assert h2o_jvms(str(no_jvm_left)) == set()
    assert existing_cluster.running()
    assert existing_cluster._wait_ready(existing_cluster.port)  # still answers as itself


# ---------------------------------------------------------------------------------------------
# In-process: search, save, restart, load
# ---------------------------------------------------------------------------------------------

def _diabetes_task(workdir: Path, trials: int):
    """A regression SearchTask on diabetes' first 300 rows (3 folds), plus the other rows as a test set."""
    from sklearn.datasets import load_diabetes

    from automux.core.adapter import SearchTask
    from automux.core.experiment.budget import Budget
    from automux.core.experiment.metrics import get_metric

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    y = y.to_numpy()
    n = 300
    fold_ids = np.arange(n) % 3
    folds = [(np.flatnonzero(fold_ids != k), np.flatnonzero(fold_ids == k)) for k in range(3)]
    task = SearchTask(X=X.iloc[:n], y=y[:n], task="regression", classes=[], folds=folds,
                      metric=get_metric("rmse", "regression"), seed=3, budget=Budget(trials=trials),
                      options={}, workdir=workdir, log=lambda msg: None)
    return task, X.iloc[n:], y[n:]


def test_regression_model_saved_and_loaded_in_a_fresh_cluster_predicts_the_same(no_jvm_left):
    adapter = ha.H2OAdapter()
    task, X_test, y_test = _diabetes_task(no_jvm_left, trials=2)
    result = adapter.search(task)
    first_jvm = ha._SESSION.local.pid
    pred = adapter.predict(result.model, X_test)
    assert pred.shape == (len(X_test),) and pred.dtype == np.float64
    assert float(np.sqrt(np.mean((pred - y_test) ** 2))) < float(np.std(y_test))  # beats the mean
    model_dir = no_jvm_left / "model"
    model_dir.mkdir()
    adapter.save(result.model, model_dir)
    ha.shutdown()
    assert wait_gone({first_jvm}, 5) == set()
    loaded = adapter.load(model_dir)  # starts a new private cluster in a temp dir
    tempdir = ha._SESSION.tempdir
    assert ha._SESSION.local.pid != first_jvm
    assert np.array_equal(adapter.predict(loaded, X_test), pred)
    ha.shutdown()
    assert tempdir is not None and not Path(tempdir).exists()


def test_start_up_starts_the_jvm_with_the_memory_share_and_search_gives_out_of_fold(no_jvm_left):
    """start_up (outside the budget) starts the JVM with its heap from the spec's memory; search uses that JVM
    and returns the chosen model's cross-validation hold-out predictions, which give its recorded fold scores;
    shut_down stops the JVM."""
    adapter = ha.H2OAdapter()
    task, _, _ = _diabetes_task(no_jvm_left, trials=2)
    task.memory_mb = 1000
    facts = adapter.start_up(task)
    jvm = ha._SESSION.local.pid
    assert facts == {"h2o_heap": "600M"}
    assert "-Xmx600M" in Path(f"/proc/{jvm}/cmdline").read_bytes().split(b"\0")[1].decode()
    result = adapter.search(task)
    assert ha._SESSION.local.pid == jvm  # no second JVM
    chosen = task.candidates[result.chosen]
    assert result.oof is not None and result.oof.shape == (len(task.X),)
    assert [task.metric(task.y[v], result.oof[v]) for _, v in task.folds] == chosen.fold_scores
    adapter.shut_down()
    assert ha._SESSION.local is None and wait_gone({jvm}, 5) == set()


def test_a_warm_jvm_start_gives_up_when_its_pool_cancels_it(no_jvm_left):
    """The pool cancels a JVM still starting (its run ended, or the compare / bench is closing): the start
    stops the JVM and raises at once instead of waiting for the JVM or trying another port."""
    import threading

    from automux.core.run.warm import CANCELLED

    adapter = ha.H2OAdapter()
    key = adapter.warm_key({}, 1, None)
    outcome = {}

    def start() -> None:
        try:
            outcome["runtime"] = adapter.start_warm(key, no_jvm_left)
        except Exception as e:
            outcome["error"] = e
    thread = threading.Thread(target=start)  # as the pool's keeper thread does
    thread.start()
    end = time.monotonic() + 60
    while not (no_jvm_left / ha.CHILD_PIDS).exists() and time.monotonic() < end:
        time.sleep(0.05)
    jvm = int((no_jvm_left / ha.CHILD_PIDS).read_text().split()[0])
    (no_jvm_left / CANCELLED).touch()
    t0 = time.monotonic()
    thread.join(30)
    assert not thread.is_alive() and time.monotonic() - t0 < 10
    assert "cancelled" in str(outcome.get("error")), outcome
    assert wait_gone({jvm}, 5) == set()
    assert (no_jvm_left / ha.CHILD_PIDS).read_text().split() == [str(jvm)]  # no second attempt on another port
