"""The worker side imports and runs on Python 3.9 with only the light core deps."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from automux.core.experiment.prepare import make_budget, prepare
from automux.core.run.execute import execute

ROOT = Path(__file__).resolve().parents[1]
WORKER_MODULES = ["automux", "automux.core.run.worker", "automux.core.run.launcher", "automux.core.run.execute", "automux.core.env.handshake", "automux.core.run.predict",
                  "automux.adapters.reference", "automux.core.sklearn_kit"]


def _python39():
    explicit = os.environ.get("AUTOMUX_PYTHON_3_9")
    if explicit and os.path.exists(explicit):
        return explicit
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", "3.9*", "bin", "python3.9")))
    return found[-1] if found else shutil.which("python3.9")


@pytest.fixture(scope="session")
def py39_env(tmp_path_factory):
    """A Python 3.9 venv with automux's core dependencies (cached between sessions)."""
    py = _python39()
    if not py:
        pytest.skip("no Python 3.9 interpreter installed (set AUTOMUX_PYTHON_3_9)")
    cache = Path(os.environ.get("AUTOMUX_TEST_CACHE", Path.home() / ".cache" / "automux-tests")) / "py39-core"
    python = cache / "bin" / "python"
    if not (cache / ".complete").exists():
        shutil.rmtree(cache, ignore_errors=True)
        uv = Path(sys.executable).with_name("uv")
        if uv.exists():
            subprocess.run([str(uv), "venv", "-q", "--python", py, str(cache)], check=True)
            subprocess.run([str(uv), "pip", "install", "-q", "--python", str(python),
                            "pluggy>=1.3", "numpy<2", "pandas<2.2", "pyarrow<15"], check=True)
        else:
            subprocess.run([py, "-m", "venv", str(cache)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q",
                            "pluggy>=1.3", "numpy<2", "pandas<2.2", "pyarrow<15"], check=True)
        (cache / ".complete").write_text("ok")
    return str(python)


def _env39():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))


def test_worker_modules_import_on_python39(py39_env):
    code = "import sys; assert sys.version_info[:2] == (3, 9), sys.version\n" + \
           "\n".join(f"import {m}" for m in WORKER_MODULES)
    out = subprocess.run([py39_env, "-c", code], capture_output=True, text=True, env=_env39(), timeout=120)
    assert out.returncode == 0, out.stderr


def test_a_job_runs_in_a_python39_worker(py39_env, store, monkeypatch):
    """End to end: a 3.11 parent drives a 3.9 worker through the job dir (Arrow, JSON)."""
    import automux.core.run.execute as runner
    from fake_adapters import FakeMeanAdapter

    monkeypatch.setenv("PYTHONPATH", _env39()["PYTHONPATH"])
    real = runner.run_worker
    monkeypatch.setattr(runner, "run_worker", lambda job_dir, **kw: real(job_dir, **dict(kw, python=py39_env)))
    exp = prepare("sklearn:iris", budget=make_budget(trials=2), seed=4)
    record = execute(exp, FakeMeanAdapter(), store=store)
    assert record.status == "ok", record.log
    assert record.env["python"].startswith("3.9")
    assert len(record.candidates) == 2
