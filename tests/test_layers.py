"""The layers, enforced: import-linter's contracts hold, a violation breaks them, the worker stays light."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_py39_worker import _env39, py39_env  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

#: Exactly the automux modules ``import automux.core.run.worker`` loads: no API, store, CLI, env builder or plugins.
WORKER_IMPORTS = {
    "automux", "automux._version", "automux.core", "automux.core.errors", "automux.core.adapter",
    "automux.core.capabilities", "automux.core.experiment", "automux.core.experiment.budget",
    "automux.core.experiment.metrics", "automux.core.experiment.spec", "automux.core.env", "automux.core.env.envinfo",
    "automux.core.run", "automux.core.run.jobfiles", "automux.core.run.oof", "automux.core.run.processes",
    "automux.core.run.worker",
}
NOT_ON_THE_WORKER_SIDE = ("sqlite3", "automux.api", "automux.core.run.store", "automux.cli", "pluggy.hooks")

_LIST_MODULES = ("import sys, automux.core.run.worker\n"
                 "print('\\n'.join(sorted(m for m in sys.modules if m == 'automux' or m.startswith('automux.')"
                 " or m in %r)))" % (NOT_ON_THE_WORKER_SIDE,))


def _lint(cwd: Path, pythonpath: str) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.fail("lint-imports is missing: install the dev extra (pip install 'automux[dev]')")
    env = dict(os.environ, PYTHONPATH=pythonpath)
    return subprocess.run([str(LINT), "--no-cache"], cwd=str(cwd), capture_output=True, text=True, env=env,
                          timeout=600)


def test_import_contracts_hold():
    proc = _lint(ROOT, str(ROOT))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_a_core_module_importing_the_cli_breaks_the_contracts(tmp_path):
    """The same contracts on a copy of the package with one deliberate violation: core -> cli."""
    shutil.copytree(ROOT / "automux", tmp_path / "automux", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "automux" / "core" / "violation.py").write_text("from ..cli import main  # deliberate\n")
    proc = _lint(tmp_path, str(tmp_path))
    assert proc.returncode != 0
    assert "core imports none of the layers above it BROKEN" in " ".join(proc.stdout.split())
    assert "automux.core.violation -> automux.cli" in proc.stdout


def test_the_middle_layers_break_on_a_deliberate_violation(tmp_path):
    """The suite and bench below the API, governance on core: one violation each, on a copy of the package."""
    shutil.copytree(ROOT / "automux", tmp_path / "automux", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    violations = {"contracts": "from .. import api  # deliberate\n",
                  "bench": "from ..api import compare  # deliberate\n",
                  "governance": "from ..bench import runner  # deliberate\n"}
    for package, line in violations.items():
        (tmp_path / "automux" / package / "violation.py").write_text(line)
    proc = _lint(tmp_path, str(tmp_path))
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    for contract in ("the conformance suite sits below the API", "bench sits below the API", "governance sits on core"):
        assert re.search(re.escape(contract) + r"[^.]*? BROKEN", out), (contract, proc.stdout[-4000:])
    for chain in ("automux.contracts.violation -> automux.api", "automux.bench.violation -> automux.api",
                  "automux.governance.violation -> automux.bench.runner"):
        assert chain in proc.stdout, (chain, proc.stdout[-4000:])


def test_the_worker_imports_exactly_its_modules():
    out = subprocess.run([sys.executable, "-c", _LIST_MODULES], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == WORKER_IMPORTS


@pytest.mark.py39
def test_the_worker_imports_exactly_its_modules_on_python39(py39_env):  # noqa: F811
    out = subprocess.run([py39_env, "-c", _LIST_MODULES], capture_output=True, text=True, timeout=120,
                         env=_env39())
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == WORKER_IMPORTS


def test_importing_automux_loads_nothing_but_the_root():
    code = "import sys, automux; print(sorted(m for m in sys.modules if m.startswith('automux')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.stdout.strip() == "['automux', 'automux._version']"
