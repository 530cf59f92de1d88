"""Isolated environments: interpreter discovery, builds (uv and venv + pip), the cache, the handshake, the CLI.

Real builds: the pycaret and autosklearn envs are built once into the user cache
(``$AUTOMUX_HOME``, default ``~/.cache/automux``) and reused by later sessions;
builds that must fail or must not touch that cache go to a temporary home.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from automux._version import __version__
from automux.core.env import build, cache, handshake_check, interpreters, worker_code
from automux.core.env.errors import EnvBuildError, EnvNotBuilt, HandshakeError, InterpreterNotFound
from automux.core.env.build import build_env
from automux.core.env.cache import find_built, remove_env
from automux.core.env.handshake_check import check_identity
from automux.core.env.recipe import Recipe, recipe_for
from automux.core.env.interpreters import find_interpreter, probe, pyenv_candidates, version_in, wanted_minors

from helpers import run_cli

PY39_GLOBS = sorted(Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob("versions/3.9.*/bin/python3.9"))


def _python39():
    explicit = os.environ.get("AUTOMUX_PYTHON_3_9")
    if explicit and probe(explicit):
        return explicit
    for p in reversed(PY39_GLOBS):
        if probe(str(p)):
            return str(p)
    return None


needs_py39 = pytest.mark.skipif(_python39() is None, reason="no Python 3.9 interpreter here (set AUTOMUX_PYTHON_3_9)")


@pytest.fixture
def isolated_discovery(tmp_path, monkeypatch):
    """No uv, no downloads, an empty pyenv root and an empty PATH: only what a test adds is found."""
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("AUTOMUX_UV", "none")
    monkeypatch.setenv("AUTOMUX_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("PATH", str(empty_bin))
    for var in ("AUTOMUX_PYTHON_3_8", "AUTOMUX_PYTHON_3_9"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def tmp_home(tmp_path, monkeypatch):
    home = tmp_path / "automux-home"
    monkeypatch.setenv("AUTOMUX_HOME", str(home))
    return home


# --------------------------------------------------------------------------- Python ranges


@pytest.mark.parametrize("spec, version, ok", [
    ("==3.9.*", (3, 9, 18), True), ("==3.9.*", (3, 10, 0), False), ("3.9", (3, 9, 1), True),
    (">=3.9,<3.12", (3, 11, 7), True), (">=3.9,<3.12", (3, 12, 0), False), ("!=3.10.*", (3, 10, 2), False),
    ("~=3.9.2", (3, 9, 18), True), ("~=3.9.2", (3, 10, 0), False), (">=3.9", (3, 9, 0), True), ("", (3, 6, 0), True),
])
def test_python_range(spec, version, ok):
    assert version_in(spec, version) is ok


def test_wanted_minors_current_first_then_newest():
    assert wanted_minors("==3.9.*") == [(3, 9)]
    assert wanted_minors(">=3.9,<3.12", prefer=(3, 10, 4)) == [(3, 10), (3, 11), (3, 9)]
    with pytest.raises(ValueError):
        version_in("=> 3.9", (3, 9, 0))


# --------------------------------------------------------------------------- interpreter discovery


@needs_py39
def test_override_variable_wins(isolated_discovery, monkeypatch):
    monkeypatch.setenv("AUTOMUX_PYTHON_3_9", _python39())
    found = find_interpreter("==3.9.*", env_name="autosklearn")
    assert found.version[:2] == (3, 9) and found.source == "$AUTOMUX_PYTHON_3_9"


def test_override_with_wrong_version_or_no_python_is_an_error(isolated_discovery, monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOMUX_PYTHON_3_9", sys.executable)  # a 3.11 interpreter
    with pytest.raises(InterpreterNotFound, match="AUTOMUX_PYTHON_3_9=.*needs Python ==3.9"):
        find_interpreter("==3.9.*", env_name="autosklearn")
    not_python = tmp_path / "not-python"
    not_python.write_text("hello")
    monkeypatch.setenv("AUTOMUX_PYTHON_3_9", str(not_python))
    with pytest.raises(InterpreterNotFound, match="does not run"):
        find_interpreter("==3.9.*", env_name="autosklearn")


@needs_py39
def test_pyenv_versions_directory_newest_patch_first(isolated_discovery, monkeypatch):
    root = isolated_discovery / "pyenv"
    for name in ("3.9.1", "3.9.99", "3.13.0t", "3.9.5-dev"):
        bin_dir = root / "versions" / name / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / f"python{name[:3] if name.startswith('3.9') else '3.13'}").symlink_to(_python39())
    assert [Path(p).parts[-3] for p in pyenv_candidates((3, 9), root)] == ["3.9.99", "3.9.1"]
    monkeypatch.setenv("PYENV_ROOT", str(root))
    found = find_interpreter("==3.9.*", env_name="autosklearn")
    assert found.source == "pyenv versions" and found.version[:2] == (3, 9)


@needs_py39
def test_python_on_path_and_broken_shims_skipped(isolated_discovery, monkeypatch):
    bin_dir = isolated_discovery / "empty-bin"
    shim = bin_dir / "python3.9"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.9: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    with pytest.raises(InterpreterNotFound, match="AUTOMUX_PYTHON_3_9=/path/to/python3.9"):
        find_interpreter("==3.9.*", env_name="autosklearn")
    shim.unlink()
    shim.symlink_to(_python39())
    found = find_interpreter("==3.9.*", env_name="autosklearn")
    assert found.source == "PATH" and found.version[:2] == (3, 9)


def test_no_interpreter_exits_2_naming_the_version_and_the_override(isolated_discovery, tmp_path):
    env = {k: os.environ[k] for k in ("AUTOMUX_UV", "AUTOMUX_PYTHON_DOWNLOADS", "PYENV_ROOT", "PATH")}
    env["AUTOMUX_HOME"] = str(tmp_path / "home")
    proc = run_cli("env", "build", "autosklearn", env=env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("automux: error:")]
    assert len(errors) == 1 and "Python ==3.9.*" in errors[0] and "AUTOMUX_PYTHON_3_9=" in errors[0]
    assert not list((tmp_path / "home" / "envs").glob("autosklearn-*"))
    listing = run_cli("backends", "--json", env=env)
    rows = {r["name"]: r for r in json.loads(listing.stdout)}
    assert rows["autosklearn"]["available"] is False and "AUTOMUX_PYTHON_3_9" in rows["autosklearn"]["reason"]


# --------------------------------------------------------------------------- builds and the cache


def test_failed_build_names_its_log_and_leaves_no_env(tmp_home):
    recipe = Recipe(name="broken", python=f"=={sys.version_info[0]}.{sys.version_info[1]}.*",
                    requirements=("automux-test-no-such-package-4d1c==0.0.1",), core=())
    with pytest.raises(EnvBuildError) as info:
        build_env(recipe, echo=lambda msg: None)
    message = str(info.value)
    assert ("resolving the lock" in message or "installing requirements" in message) and "full log: " in message
    log = Path(message.rsplit("full log: ", 1)[1].rstrip(")"))
    assert log.is_file() and "automux-test-no-such-package-4d1c" in log.read_text()
    assert find_built(recipe) is None
    assert not [p for p in (tmp_home / "envs").iterdir() if not p.name.endswith(".lock")]


def _tiny_lock(home, recipe, text="six==1.17.0\n"):
    """A hand-written lock for ``recipe`` in the local lock cache (what a first resolution leaves)."""
    from automux.core.env import lock as locks
    return locks.save_local(home, recipe.name, recipe.key, locks.header(recipe.name, recipe.key, "3", "hand") + text)


def test_venv_pip_fallback_build_installs_the_lock_ignores_half_built_dir_then_remove(tmp_home, monkeypatch):
    monkeypatch.setenv("AUTOMUX_UV", "none")
    recipe = Recipe(name="tiny", python=f"=={sys.version_info[0]}.{sys.version_info[1]}.*",
                    requirements=("six>=1.0",), core=())
    lock = _tiny_lock(tmp_home, recipe)
    half = tmp_home / "envs" / recipe.dir_name_for(lock)
    (half / "bin").mkdir(parents=True)
    (half / "bin" / "python").symlink_to(sys.executable)
    (half / cache.META).write_text(json.dumps({"name": "tiny", "key": recipe.key, "fingerprint": "0" * 16}))
    assert find_built(recipe) is None  # no 'complete' marker: never used
    lines = []
    built = build_env(recipe, echo=lines.append)
    assert built.path == half and (half / cache.MARKER).is_file()
    assert built.meta["builder"] == "venv+pip" and built.meta["packages"]["six"] == "1.17.0"
    assert "six==1.17.0" in (half / cache.LOCK).read_text().splitlines()
    installed = {"python": built.meta["python_version"], "machine": built.meta["machine"],
                 "packages": built.meta["packages"]}
    assert built.meta["installed_fingerprint"] == build.fingerprint_of(installed)
    assert built.fingerprint == lock.sha256[:16] == half.name.rsplit("-", 1)[1]
    assert any("built in" in line for line in lines)
    import subprocess
    out = subprocess.run([str(built.python), "-c", "import six, sys; print(six.__version__, sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1.17.0", str(half)]  # works after the rename into place
    assert build_env(recipe, echo=lines.append).meta["built_utc"] == built.meta["built_utc"]  # cached
    assert remove_env("tiny") == [str(half)] and not half.exists()


def test_missing_env_with_no_build_refuses_before_any_run(tmp_home, tmp_path):
    import automux
    from automux.core.run.execute import execute
    from automux.core.run.store import RunStore

    exp = automux.experiment("sklearn:breast_cancer", budget_trials=1)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(EnvNotBuilt, match="automux env build pycaret"):
        execute(exp, "pycaret", store=store, build=False)
    assert store.list() == [] and not (tmp_path / "runs").exists()


def test_recipe_key_changes_with_pins_not_with_automux_version():
    from automux.adapters.autosklearn_adapter import AutoSklearnAdapter

    base = recipe_for(AutoSklearnAdapter.environment)
    assert base.key == recipe_for(AutoSklearnAdapter.environment).key
    other = Recipe(base.name, base.python, base.requirements[:-1] + ("pyarrow==20.0.0",), base.core)
    newer = Recipe(base.name, base.python, base.requirements, base.core, automux_version="99.0")
    assert base.key != other.key and base.key == newer.key  # automux is not installed into an env


# --------------------------------------------------------------------------- locks


@pytest.mark.parametrize("backend", ["pycaret", "autosklearn", "autogluon"])
def test_first_party_recipes_have_a_current_committed_lock(backend, tmp_home):
    """Every first-party isolated recipe ships a lock resolved for exactly that recipe, with hashes."""
    from automux.core.env import lock as locks
    from automux.core.registry import get_adapter

    recipe = recipe_for(get_adapter(backend).environment)
    lock = recipe.lock()
    assert lock is not None and lock.source == "packaged", "run `automux env lock NAME --out automux/envlocks/NAME.txt`"
    assert locks.recipe_key_of(lock.text) == recipe.key
    pins = lock.pins()
    assert pins and all("==" in p and "--hash=sha256:" in p for p in pins)
    for req in recipe.requirements:  # every top-level pin is in the lock
        name = req.split("==")[0].split("[")[0].lower().replace("_", "-").replace(".", "-")
        assert any(p.lower().replace("_", "-").replace(".", "-").startswith(name + "==") for p in pins), req


def test_lock_hash_ignores_the_header_and_a_local_lock_wins(tmp_home):
    from automux.core.env import lock as locks

    recipe = Recipe(name="tiny", python=">=3.9", requirements=("six==1.17.0",), core=())
    assert recipe.lock() is None
    a = _tiny_lock(tmp_home, recipe)
    b = locks.header("tiny", recipe.key, "3.11", "another day") + "six==1.17.0\n"
    assert locks.lock_hash(b) == a.sha256  # the same pins resolved on another day: the same fingerprint
    assert locks.lock_hash("six==1.16.0\n") != a.sha256
    assert recipe.lock().path == locks.local_path(tmp_home, "tiny", recipe.key)


def test_upgrade_re_resolves_the_lock_with_uv(tmp_home):
    if interpreters.find_uv() is None:
        pytest.skip("resolving a lock needs uv")
    recipe = Recipe(name="tiny", python=f"=={sys.version_info[0]}.{sys.version_info[1]}.*",
                    requirements=("six>=1.16",), core=())
    _tiny_lock(tmp_home, recipe, "six==1.16.0\n")
    old = build_env(recipe, echo=lambda m: None)
    assert old.meta["packages"]["six"] == "1.16.0"
    new = build_env(recipe, upgrade=True, echo=lambda m: None)
    assert new.meta["lock_source"] == "local" and "--hash=sha256:" in recipe.lock().text
    assert new.meta["packages"]["six"] != "1.16.0" and new.fingerprint != old.fingerprint
    assert find_built(recipe).path == new.path


# --------------------------------------------------------------------------- real envs and the handshake


@pytest.fixture(scope="session")
def real_envs():
    """Both isolated envs, built by the CLI into the user cache (once per machine)."""
    out = {}
    for name in ("pycaret", "autosklearn"):
        proc = run_cli("env", "build", name, "--json", timeout=1800)
        if proc.returncode == 2 and "needs Python" in proc.stderr:
            pytest.skip(proc.stderr.strip())
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = json.loads(proc.stdout)
    return out


@pytest.mark.slow
def test_env_build_and_list_show_both_envs_with_fingerprints(real_envs):
    for name, built in real_envs.items():
        assert built["name"] == name and len(built["fingerprint"]) == 16
        assert Path(built["path"], cache.MARKER).is_file()
        assert built["handshake"]["automux_version"] == __version__
    assert real_envs["autosklearn"]["python_version"].startswith("3.9.")
    assert real_envs["pycaret"]["python_version"].startswith("3.11.")
    proc = run_cli("env", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout) if r["current"]}
    for name, built in real_envs.items():
        assert rows[name]["status"] == "built" and rows[name]["fingerprint"] == built["fingerprint"]
        assert rows[name]["backends"] == [name]


def _built(name):
    from automux.core.registry import get_adapter
    return find_built(recipe_for(get_adapter(name).environment))


@pytest.mark.slow
def test_handshake_detects_other_automux_code(real_envs, tmp_path):
    env = _built("pycaret")
    worker = handshake_check.handshake(env, ["automux.adapters.pycaret_adapter"])
    assert worker["python"].startswith("3.11.") and worker["prefix"] == str(env.path)
    copy = tmp_path / "code"
    extra = dict(worker_code.worker_vars(env), PYTHONPATH=str(copy))
    for attempt in range(3):  # other work may edit automux's files meanwhile: copy again then
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(Path(build.__file__).resolve().parents[2], copy / "automux",
                        ignore=shutil.ignore_patterns("__pycache__"))
        try:
            same = handshake_check.handshake(env, [], extra)  # a copy with the same bytes passes
            break
        except HandshakeError:
            if attempt == 2:
                raise
    assert same["package_dir"] == str((copy / "automux").resolve())
    with open(copy / "automux" / "core" / "run" / "worker.py", "a") as f:
        f.write("\n# an edit the parent does not have\n")
    with pytest.raises(HandshakeError, match="different automux code"):
        handshake_check.handshake(env, [], extra)
    with pytest.raises(HandshakeError, match="does not import"):
        handshake_check.handshake(env, ["automux.adapters.no_such_adapter_module"])


def test_identity_check_names_version_and_import_problems():
    parent = {"automux_version": "0.1.0", "source_sha256": "a" * 64, "package_dir": "/x/automux"}
    with pytest.raises(HandshakeError, match="automux 0.0.9"):
        check_identity(parent, dict(parent, automux_version="0.0.9"), "pycaret")
    with pytest.raises(HandshakeError, match="SyntaxError"):
        check_identity(parent, dict(parent, imports={"automux.core.run.worker": "SyntaxError: bad"}), "e")
    check_identity(parent, dict(parent, imports={"automux.core.run.worker": "ok"}), "e")


def test_env_remove_and_list_on_an_empty_cache(tmp_home):
    env = {"AUTOMUX_HOME": str(tmp_home)}
    proc = run_cli("env", "remove", "no-such-env", env=env)
    assert proc.returncode == 2 and "unknown env 'no-such-env'" in proc.stderr
    proc = run_cli("env", "remove", "pycaret", "--json", env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"name": "pycaret", "removed": []}
    proc = run_cli("env", "list", "--json", env=env)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["pycaret"]["status"] == rows["autosklearn"]["status"] == "missing"
    assert rows["autosklearn"]["python_range"] == "==3.9.*" and rows["pycaret"]["fingerprint"] is None
    assert rows["pycaret"]["lock_source"] == "packaged" and len(rows["pycaret"]["lock"]) == 16
