"""Shared fixtures: a run store per test, and the fakes' directory on the worker's path."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent


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
