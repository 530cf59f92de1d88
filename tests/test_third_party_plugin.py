"""The example plugin (examples/third_party_adapter), installed from its folder as its own
distribution: discovered through its entry point alone, and it passes the contract suite."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "third_party_adapter"
NAME = "sklearn_halving"
FIRST_PARTY = ("reference", "optuna", "flaml", "tpot", "h2o", "pycaret", "autosklearn")


def _automux_entry_points():
    if sys.version_info >= (3, 10):
        return list(entry_points(group="automux"))
    return list(entry_points().get("automux", []))


@pytest.fixture(scope="module")
def installed_example():
    """``uv pip install -e examples/third_party_adapter`` into this interpreter's env (pip without uv)."""
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        cmd = [str(uv), "pip", "install", "--python", sys.executable, "-e", str(EXAMPLE)]
    else:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "-e", str(EXAMPLE)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"installing the example plugin failed:\n{proc.stdout}\n{proc.stderr}"
    return NAME


def test_plugin_is_its_own_distribution_registered_by_entry_point_only(installed_example):
    eps = {ep.name: ep for ep in _automux_entry_points()}
    assert eps[NAME].value == "automux_halving.adapter"
    dist = getattr(eps[NAME], "dist", None)
    assert dist is None or dist.metadata["Name"] == "automux-halving"
    assert NAME not in FIRST_PARTY
    assert "halving" not in (ROOT / "pyproject.toml").read_text()


def test_backends_finds_the_plugin(installed_example):
    proc = run_cli("backends", "--json")
    assert proc.returncode == 0, proc.stderr
    found = {b["name"]: b for b in json.loads(proc.stdout)}
    assert found[NAME]["available"] is True, found[NAME]
    assert found[NAME]["capabilities"]["budget_modes"] == ["trials"]
    assert found[NAME]["env"]["name"] == "main"


def test_contract_suite_passes_on_the_plugin(installed_example):
    proc = run_cli("contracts", NAME, "--json", timeout=900)
    results = json.loads(proc.stdout) if proc.stdout.strip() else []
    failed = [r for r in results if r["status"] == "failed"]
    assert proc.returncode == 0 and not failed, failed or proc.stderr[-2000:]
    statuses = {r["check"]: r["status"] for r in results}
    for check in ("check_given_folds_used", "check_seed_reaches_backend", "check_deterministic_when_declared",
                  "check_save_load_round_trip", "check_no_process_left_behind"):
        assert statuses[check] == "passed"


def test_plugin_runs_under_the_contract(installed_example, tmp_path):
    proc = run_cli("--store", str(tmp_path / "runs"), "run", "--data", "sklearn:iris", "--backend", NAME,
                   "--budget-trials", "3", "--folds", "3", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["status"] == "ok" and out["backend"] == NAME and out["candidates"] == 3
