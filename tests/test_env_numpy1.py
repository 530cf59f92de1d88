"""A plugin env whose recipe pins NumPy 1 and nothing else builds, and its worker dependencies import
(issue 26): automux's pyarrow resolves together with the recipe's numpy, not at its newest on its own;
``env lock --out`` writes the lock only where asked."""
from __future__ import annotations

import os
import subprocess

import pytest

from automux.core.env import build
from automux.core.env.cache import find_built
from automux.core.env.home import HOME_ENV
from automux.core.env.interpreters import find_uv, parse_version
from automux.core.env.recipe import Recipe, core_requirements
from automux.core.env.worker_code import worker_vars
from automux.core.env import lock as locks


def test_numpy1_bounds_pyarrow_only_where_needed():
    assert build.numpy1_bound({"numpy": "1.26.4", "pyarrow": "26.0.1"}) == "pyarrow<26"
    assert build.numpy1_bound({"numpy": "1.23.5", "pyarrow": "30.0"}) == "pyarrow<26"
    assert build.numpy1_bound({"numpy": "1.26.4", "pyarrow": "25.0.1"}) is None
    assert build.numpy1_bound({"numpy": "2.1.0", "pyarrow": "26.0.1"}) is None
    assert build.numpy1_bound({"pyarrow": "26.0.1"}) is None


def test_pinned_versions_reads_a_hashed_lock():
    text = ("# header\nnumpy==1.26.4 \\\n    --hash=sha256:aa\nPyArrow==26.0.1 \\\n    --hash=sha256:bb\n"
            "typing_extensions==4.0 ; python_version < '3.10'\n")
    assert build._pinned_versions(text) == {"numpy": "1.26.4", "pyarrow": "26.0.1", "typing-extensions": "4.0"}


def _numpy1_recipe() -> Recipe:
    return Recipe(name="numpy1-only", python=">=3.9", requirements=("numpy==1.26.4",), core=core_requirements())


@pytest.fixture
def home(tmp_path, monkeypatch):
    if not find_uv():
        pytest.skip("resolving a lock needs uv")
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.slow
def test_lock_out_writes_only_where_asked_and_bounds_pyarrow(home, tmp_path):
    recipe = _numpy1_recipe()
    out = tmp_path / "numpy1-only.txt"  # its folder must exist (checked before resolving)
    lock = build.resolve_lock(recipe, out=out, echo=lambda m: None)
    assert lock.path == out and out.read_text(encoding="utf-8") == lock.text
    assert not locks.local_path(home, recipe.name, recipe.key).exists(), "--out must not leave a local lock"
    assert find_built(recipe) is None and recipe.lock() is None
    pins = build._pinned_versions(lock.text)
    assert pins["numpy"] == "1.26.4"
    assert parse_version(pins["pyarrow"]) < parse_version("26"), pins
    assert {"pluggy", "pandas"} <= set(pins)


@pytest.mark.slow
def test_a_recipe_pinning_numpy1_alone_builds_and_imports_the_worker_side(home):
    built = build.build_env(_numpy1_recipe(), echo=lambda m: None)
    proc = subprocess.run([str(built.python), "-c", "import numpy, pandas, pyarrow, pluggy; "
                           "import automux.core.run.jobfiles as jf; print(numpy.__version__, pyarrow.__version__)"],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, **worker_vars(built)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    numpy_v, arrow_v = proc.stdout.split()
    assert numpy_v == "1.26.4" and parse_version(arrow_v) < parse_version("26")


@pytest.mark.slow
def test_a_backend_needing_pkg_resources_fails_naming_the_pin_then_builds_with_it(home):
    """The env's import check names the module that broke and the pin that fixes it (setuptools<70)."""
    from automux.core.env.errors import EnvBuildError

    bare = Recipe(name="needs-pkg-resources", python=">=3.9", requirements=("numpy==1.26.4",),
                  core=core_requirements(), import_names=("pkg_resources",))
    with pytest.raises(EnvBuildError) as err:
        build.build_env(bare, echo=lambda m: None)
    message = str(err.value)
    assert "cannot import pkg_resources" in message and 'add "setuptools<70"' in message, message
    fixed = Recipe(name="needs-pkg-resources", python=">=3.9",
                   requirements=("numpy==1.26.4", "setuptools<70"), core=core_requirements(),
                   import_names=("pkg_resources",))
    built = build.build_env(fixed, echo=lambda m: None)
    assert parse_version(built.meta["packages"]["setuptools"]) < parse_version("70")
