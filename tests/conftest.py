"""Shared fixtures (a run store per test, the fakes' directory on the worker's path), the run order
and the two streams.

Tests that need a backend's isolated env (pycaret, autosklearn, autogluon) run last: `.ci/run`
builds those envs in the background while the other tests run, so no test sits waiting on an env
build's lock at the start of the session.

``--stream heavy`` collects only the first-party contract matrix (the slow backends' contract checks,
each a real backend run), the isolated-env backends' test files and H2O's own (each test a JVM), ``--stream
rest`` everything else; `.ci/test` runs the two side by side.
Every test finds its processes by its own store, marker or process group, never by a name alone, so
two sessions on one machine do not see each other's (the helpers' sessions have always shared one)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
#: Backends whose workers run in an isolated env that `.ci/run` prebuilds in the background.
ENV_BACKENDS = ("pycaret", "autosklearn", "autogluon")
#: Test files whose every test runs one of those backends.
ENV_FILES = tuple(f"test_{b}_adapter.py" for b in ENV_BACKENDS)


def needs_isolated_env(item: pytest.Item) -> bool:
    """The test runs a worker in a prebuilt isolated env: its file is an env backend's adapter test,
    it is marked ``needs_env``, or it is a slow test whose id names an env backend (the contract matrix)."""
    if item.path.name in ENV_FILES or item.get_closest_marker("needs_env"):
        return True
    return bool(item.get_closest_marker("slow")) and any(b in item.nodeid for b in ENV_BACKENDS)


#: The ``heavy`` stream: the slow contract matrix (tests/test_contracts.py, marked slow), the isolated-env
#: backends' own test files and H2O's (each test a JVM start), about 40 % of the suite's
#: time (a fresh-clone run with H2O's file in the rest stream: rest 1751 s, heavy 1098 s); the rest stream
#: holds everything else.
HEAVY_MATRIX = "test_contracts.py"
HEAVY_FILES = ENV_FILES + ("test_h2o_adapter.py",)
STREAMS = ("heavy", "rest")


def in_heavy_stream(item: pytest.Item) -> bool:
    if item.path.name in HEAVY_FILES:
        return True
    return item.path.name == HEAVY_MATRIX and bool(item.get_closest_marker("slow"))


def pytest_addoption(parser):
    parser.addoption("--stream", choices=STREAMS, default=None,
                     help="collect only the heavy stream (the slow contract matrix) or the rest; default: all")


def pytest_collection_modifyitems(session, config, items):
    """Keep the asked-for stream; then tests that need an isolated env last, each group in its collected
    order (a stable sort)."""
    stream = config.getoption("--stream")
    if stream:
        keep = [i for i in items if in_heavy_stream(i) == (stream == "heavy")]
        dropped = [i for i in items if in_heavy_stream(i) != (stream == "heavy")]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    items[:] = sorted(items, key=needs_isolated_env)


@pytest.fixture
def store(tmp_path):
    from automux.core.run.store import RunStore
    return RunStore(tmp_path / "runs")


@pytest.fixture
def fakes_on_path(monkeypatch):
    """Lets the worker subprocess import tests/fake_adapters.py."""
    old = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS_DIR), old) if p))
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))
    yield
