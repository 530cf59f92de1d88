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
FIRST_PARTY = ("reference", "optuna", "flaml", "tpot", "h2o", "pycaret", "autosklearn", "autogluon")


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


# --------------------------------------------------------------------------- a plugin adapter in its own env

ISO = "sklearn_halving_iso"


@pytest.fixture(scope="module")
def iso_home(installed_example, tmp_path_factory):
    """A fresh ``AUTOMUX_HOME``: the plugin's env is resolved, locked and built by the CLI from nothing."""
    return {"AUTOMUX_HOME": str(tmp_path_factory.mktemp("automux-home"))}


@pytest.mark.slow
def test_plugin_env_builds_runs_predicts_and_passes_contracts_through_the_cli(iso_home, tmp_path):
    from importlib.metadata import version

    built = run_cli("env", "build", "halving-iso", "--json", env=iso_home, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    env = json.loads(built.stdout)
    assert env["lock_source"] == "local" and env["fingerprint"] == env["lock_sha256"][:16]
    assert env["plugin"]["name"] == "automux-halving" and "automux_halving" in env["handshake"]["sources"]
    listed = {r["name"]: r for r in json.loads(run_cli("env", "list", "--json", env=iso_home).stdout)}
    assert listed["halving-iso"]["status"] == "built" and listed["halving-iso"]["lock"] == env["fingerprint"]
    assert listed["halving-iso"]["backends"] == [ISO]

    store = str(tmp_path / "runs")
    ran = run_cli("--store", store, "run", "--data", "sklearn:iris", "--backend", ISO, "--budget-trials", "3",
                  "--folds", "3", "--no-build", "--json", env=iso_home)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = json.loads(ran.stdout)
    record = json.loads(Path(out["record"]).read_text())
    used = record["env"]["automux_env"]
    assert used["isolated"] is True and used["name"] == "halving-iso" and used["fingerprint"] == env["fingerprint"]
    assert used["plugin"]["source_sha256"] == env["handshake"]["sources"]["automux_halving"]
    # the worker really ran in the env: its scikit-learn is the recipe's, not the main env's
    assert record["env"]["packages"]["scikit-learn"] == "1.5.2" != version("scikit-learn")

    data = tmp_path / "new.csv"
    from sklearn.datasets import load_iris
    load_iris(as_frame=True).frame.drop(columns="target").head(7).to_csv(data, index=False)
    pred = run_cli("--store", store, "predict", out["run_id"], "--data", str(data), "--json", env=iso_home)
    assert pred.returncode == 0, pred.stderr[-2000:]
    assert json.loads(pred.stdout)["env_matches"] is True

    suite = run_cli("contracts", ISO, "--json", env=iso_home, timeout=900)
    results = json.loads(suite.stdout) if suite.stdout.strip() else []
    failed = [r for r in results if r["status"] == "failed"]
    assert suite.returncode == 0 and results and not failed, failed or suite.stderr[-2000:]


def test_plugin_env_refuses_a_worker_importing_other_plugin_code(iso_home, tmp_path):
    """The handshake compares the plugin package's source hash on both sides."""
    from automux.core.env.handshake_check import check_identity
    from automux.core.env.errors import HandshakeError

    parent = {"automux_version": "x", "source_sha256": "s", "package_dir": "p",
              "plugins": {"automux_halving": "a" * 64}}
    worker = {"automux_version": "x", "source_sha256": "s", "sources": {"automux_halving": "b" * 64},
              "imports": {}}
    with pytest.raises(HandshakeError, match="automux_halving"):
        check_identity(parent, worker, "halving-iso")
    check_identity(parent, dict(worker, sources={"automux_halving": "a" * 64}), "halving-iso")


def test_the_docs_check_table_lists_exactly_the_suite():
    """docs/plugins.md's check table names every check in ALL_CHECKS, and nothing else (issue 26)."""
    import re

    from automux.contracts import ALL_CHECKS

    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    table = text[text.index("The checks, chosen from your declarations"):text.index("Budgets: base runs")]
    rows = [line for line in table.splitlines() if line.startswith("| `check_")]
    named = [name for row in rows for name in re.findall(r"`(check_\w+)`", row.split("|")[1])]
    assert sorted(named) == sorted(c.__name__ for c in ALL_CHECKS)
    assert len(named) == len(set(named))
    block = table.split("| check |", 1)[1].split("\n\n", 1)[0]  # a blank line would end the table early
    assert [line for line in block.splitlines() if line.startswith("| `check_")] == rows
