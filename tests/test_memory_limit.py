"""Memory is part of the spec and enforced on the worker's whole process group (issue 22, item 7).

The enforcement tests use a fake adapter (``FakeMemoryHogAdapter``, tests/fake_adapters.py) that reports
one candidate and then allocates memory; on a machine where cgroup v2 is not writable (``memory.how()``
says why) they exercise the parent's RSS watchdog, else the cgroup. Both paths can be forced to the
watchdog with ``AUTOMUX_MEMORY_GUARD=watchdog``.
"""
from __future__ import annotations

import json
import os
import time

import pytest

import automux
from automux.core.experiment.budget import Budget
from automux.core.experiment.memory import DEFAULT_SHARE, MIN_MB, describe, machine_mb, resolve_memory
from automux.core.experiment.prepare import make_budget
from automux.core.experiment.spec import canonical_json, sha256_text
from helpers import run_cli


def test_sizes_parse_as_binary_units_and_default_to_a_share_of_the_machine():
    assert [resolve_memory(v) for v in ("4G", "512M", "1.5g", "300MB", "2GiB", 2048)] == [4096, 512, 1536, 300,
                                                                                          2048, 2048]
    assert resolve_memory("all") == machine_mb() > 0
    assert resolve_memory(None) == int(machine_mb() * DEFAULT_SHARE)
    assert make_budget(trials=1).memory_mb is None  # the default is resolved per run (effective_mb), not in the spec
    assert make_budget(trials=1, memory="300M").memory_mb == 300
    assert describe(300) == "0.29 GB" and describe(20 * 1024) == "20.0 GB"


@pytest.mark.parametrize("value, says", [("12", "give a size with a unit"), ("lots", "give a size with a unit"),
                                         ("-1G", "give a size with a unit"), ("1M", f"at least {MIN_MB}M"),
                                         ("100000T", "this machine has")])
def test_bad_sizes_are_refused_with_what_to_give(value, says):
    with pytest.raises(automux.SpecError, match=says):
        make_budget(trials=1, memory=value)


def test_memory_on_the_command_line_is_recorded_and_a_bad_one_exits_2_with_one_line(tmp_path):
    for value in ("lots", "1M"):
        proc = run_cli("run", "--data", "sklearn:iris", "--backend", "reference", "--budget-trials", "1",
                       "--memory", value, "--no-check", "--store", str(tmp_path))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "--memory" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    proc = run_cli("run", "--data", "sklearn:iris", "--backend", "reference", "--budget-trials", "1",
                   "--memory", "2G", "--no-check", "--json", "--store", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(open(json.loads(proc.stdout)["record"]).read())
    assert record["spec"]["budget"]["memory_mb"] == 2048


def test_memory_is_in_the_spec_and_records_without_it_keep_their_spec_id(fakes_on_path):
    from automux.core.experiment.prepare import prepare
    from automux.core.experiment.spec import Spec

    a = prepare("sklearn:iris", budget=make_budget(trials=1, memory="1G"), seed=1)
    b = prepare("sklearn:iris", budget=make_budget(trials=1, memory="2G"), seed=1)
    assert a.spec.to_json()["budget"]["memory_mb"] == 1024
    assert a.spec.spec_id != b.spec.spec_id  # a resource like cores: part of the experiment
    old = a.spec.to_json()
    del old["budget"]["memory_mb"]  # a record written before --memory existed
    loaded = Spec.from_json(old)
    assert loaded.budget.memory_mb is None
    assert loaded.spec_id == sha256_text(canonical_json(old))[:16]
    with pytest.raises(automux.SpecError, match="--memory"):
        Budget(trials=1, memory_mb=0)


def test_the_default_memory_is_not_in_the_spec_so_the_spec_id_is_the_same_on_every_machine(monkeypatch):
    from automux.core.experiment import memory as mem
    from automux.core.experiment.prepare import prepare

    here = prepare("sklearn:iris", budget=make_budget(trials=1), seed=1)
    monkeypatch.setattr(mem, "machine_mb", lambda: 4 * 1024 * 1024)  # another machine: 4 TiB
    there = prepare("sklearn:iris", budget=make_budget(trials=1), seed=1)
    assert here.spec.budget.memory_mb is None and "memory_mb" not in here.spec.to_json()["budget"]
    assert here.spec.spec_id == there.spec.spec_id
    assert mem.effective_mb(None) == mem.default_mb() == int(4 * 1024 * 1024 * mem.DEFAULT_SHARE)
    assert mem.effective_mb(2048) == 2048


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("in_child", [False, True], ids=["worker", "worker+child"])
def test_a_run_over_its_memory_ends_failed_with_the_reason_and_keeps_its_candidate(fakes_on_path, store, tmp_path,
                                                                                  in_child):
    """300M limit, a fake that would hold 3 GB: ended within seconds, nothing of it left.

    With ``in_child`` the memory is split over the worker and a child process, so the
    limit is passed only by the group's sum."""
    from fake_adapters import FakeMemoryHogAdapter

    from automux.core.experiment.prepare import prepare
    from automux.core.run.execute import execute

    pid_file = tmp_path / "pids"
    exp = prepare("sklearn:iris", budget=make_budget(trials=1, memory="300M"), seed=1)
    t0 = time.monotonic()
    record = execute(exp, FakeMemoryHogAdapter(), store=store,
                     options={"hog_mb": 3000, "in_child": in_child, "pid_file": str(pid_file)})
    took = time.monotonic() - t0
    assert record.status == "failed", (record.status, record.error, record.log)
    assert record.error.startswith("memory limit of 0.29 GB exceeded"), record.error
    assert record.extra["error_type"] == "MemoryLimitExceeded"
    assert record.extra["memory"]["exceeded"] and record.extra["memory"]["limit_mb"] == 300
    assert [c.params for c in record.candidates] == [{"memory_mb": 300}]  # kept, and the adapter was told
    assert took < 30, took  # 3000 MiB at 400 MiB/s would take 7.5 s: ended well before it held them
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == (2 if in_child else 1)
    assert not any(_alive(p) for p in pids)


def test_a_run_under_its_memory_is_unaffected(fakes_on_path, store, tmp_path):
    from fake_adapters import FakeMemoryHogAdapter

    from automux.core.experiment.prepare import prepare
    from automux.core.run.execute import execute

    exp = prepare("sklearn:iris", budget=make_budget(trials=1, memory="1G"), seed=1)
    record = execute(exp, FakeMemoryHogAdapter(), store=store, options={"hog_mb": 100, "in_child": True})
    assert record.status == "ok", (record.error, record.log)
    assert [c.params for c in record.candidates] == [{"memory_mb": 1024}]
    assert record.spec.budget.memory_mb == 1024
    account = record.extra["memory"]
    assert account["limit_mb"] == 1024 and not account["exceeded"] and account["guard"] in ("cgroup", "watchdog")
    if account["guard"] == "watchdog":  # the worker plus a child holding 50 MiB each, summed
        assert 100 < account["peak_mb"] < 1024, account


def test_the_watchdog_sums_the_whole_group():
    """``group_memory`` counts a child of the group, and nothing outside it."""
    import subprocess
    import sys

    from automux.core.run import processes

    code = "import time; x = b'\\x01' * (200 * 1024 * 1024); print('ready', flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        held, pids = processes.group_memory(proc.pid)
        assert pids == [proc.pid]
        assert 200 * 1024 * 1024 < held < 400 * 1024 * 1024
        assert os.getpid() not in pids
    finally:
        proc.kill()
        proc.wait()


def test_the_guard_says_which_way_it_enforces(monkeypatch):
    from automux.core.run import memory

    base, why = memory.how()
    assert (base is None) == bool(why)  # a cgroup v2 directory, or the reason the watchdog is used
    monkeypatch.setenv(memory.GUARD_ENV, "watchdog")
    assert memory.how() == (None, f"{memory.GUARD_ENV}=watchdog")


def test_the_cgroup_path_writes_the_limit_and_reads_the_kernels_verdict(monkeypatch, tmp_path):
    """The cgroup v2 path against a stand-in directory (plain files, no kernel: a fake cgroupfs).

    It checks what the guard writes (memory.max in bytes, no swap, the group killed as one,
    the worker's pid moved in) and that an ``oom_kill`` in ``memory.events`` becomes the
    memory reason. The kernel's side is exercised only where cgroup v2 is writable
    (``memory.how()`` says whether it is here)."""
    import shutil

    from automux.core.run import memory

    base = tmp_path / "fake-cgroupfs"
    base.mkdir()
    monkeypatch.setattr(memory, "how", lambda: (base, ""))
    real_mkdir = memory.Path.mkdir

    def mkdir_with_files(self, *a, **k):  # what the kernel does on mkdir in a cgroupfs
        real_mkdir(self, *a, **k)
        for name in ("memory.max", "memory.swap.max", "memory.oom.group", "cgroup.procs", "memory.events"):
            (self / name).write_text("")

    monkeypatch.setattr(memory.Path, "mkdir", mkdir_with_files)
    removed = []
    monkeypatch.setattr(memory, "_remove_cgroup", lambda p: (removed.append(p), shutil.rmtree(p)))
    guard = memory.guard(4242, 300, tmp_path / "child_pids", time.time(), tmp_path / "log")
    assert guard.mode == "cgroup" and guard.cgroup is not None
    cg = guard.cgroup
    assert (cg / "memory.max").read_text() == str(300 * 1024 * 1024)
    assert (cg / "memory.swap.max").read_text() == "0" and (cg / "memory.oom.group").read_text() == "1"
    assert (cg / "cgroup.procs").read_text() == "4242"
    (cg / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    (cg / "memory.peak").write_text(str(310 * 1024 * 1024))
    guard.stop()
    assert guard.exceeded and guard.exceeded.startswith("memory limit of 0.29 GB exceeded (its processes held 0.30 GB)")
    assert removed == [cg] and "memory limit of 0.29 GB exceeded" in (tmp_path / "log").read_text()
