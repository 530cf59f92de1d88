"""What a worker for an adapter needs: its env (found, or built when allowed), checked, and its variables.

:func:`prepare_worker` is the one call the launcher's callers make; :func:`unavailable_reason`
says cheaply (never building) why an isolated env cannot be had here.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from ..capabilities import Environment
from .build import Echo, build_env
from .cache import BuiltEnv, find_built
from .errors import EnvError, EnvNotBuilt, InterpreterNotFound
from .handshake_check import handshake
from .interpreters import DOWNLOADS_ENV, find_interpreter, find_uv, version_in
from .recipe import MAIN, Recipe, recipe_for
from .worker_code import plugin_distribution, plugin_packages, worker_vars


def current_satisfies(environment: Environment) -> bool:
    """Whether this interpreter already has the recipe: its Python range and every requirement."""
    try:
        if not version_in(environment.python, tuple(sys.version_info[:3])):
            return False
    except ValueError:
        return False
    if not environment.requirements:
        return True
    try:
        from importlib.metadata import PackageNotFoundError, version

        from packaging.requirements import Requirement
    except ImportError:  # cannot check the pins here: build the env instead
        return False
    for text in environment.requirements:
        try:
            req = Requirement(text)
        except Exception:
            return False
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            have = version(req.name)
        except PackageNotFoundError:
            return False
        if not req.specifier.contains(have, prereleases=True):
            return False
    return True


def unavailable_reason(environment: Environment) -> Optional[str]:
    """Why an isolated env cannot be had here, or None (built, buildable or not needed).

    Cheap: never builds and never downloads; a missing env that can be built is
    available (the first run builds it).
    """
    if environment.name == MAIN:
        return None
    if find_built(recipe_for(environment)) is not None:
        return None
    try:
        find_interpreter(environment.python, env_name=environment.name, allow_download=False)
    except InterpreterNotFound as e:
        downloads = os.environ.get(DOWNLOADS_ENV, "").lower() not in ("never", "0", "no", "off")
        if find_uv() and downloads:
            return None  # `uv python install` may still get one when the env is built
        return str(e)
    return None



@dataclass
class WorkerEnv:
    """Where a worker runs: its interpreter, extra environment variables, and what the record keeps."""

    python: str
    env_extra: Dict[str, str] = field(default_factory=dict)
    info: Dict[str, Any] = field(default_factory=dict)


def _missing_message(adapter_name: str, recipe: Recipe) -> str:
    return (f"backend {adapter_name!r} runs in its own env {recipe.name!r} ({recipe.describe()}), which is not "
            f"built: run `automux env build {recipe.name}` first, or run without --no-build to build it now")


def ensure_env(environment: Environment, *, build: bool = True, adapter_name: str = "",
               echo: Optional[Echo] = None) -> Optional[BuiltEnv]:
    """The built env for an isolated recipe (building it if allowed); None when this interpreter serves.

    Raises:
        EnvNotBuilt: missing and ``build`` is False.
        InterpreterNotFound, EnvBuildError: building failed.
    """
    if environment.name == MAIN:
        return None
    recipe = recipe_for(environment)
    found = find_built(recipe)
    if found is not None:
        return found
    if not build:
        raise EnvNotBuilt(_missing_message(adapter_name or environment.name, recipe))
    return build_env(recipe, echo=echo)


def prepare_worker(adapter: Any, *, build: bool = True, inline: bool = False, env: Optional[BuiltEnv] = None,
                   echo: Optional[Echo] = None) -> WorkerEnv:
    """The interpreter and variables a worker for ``adapter`` needs, checked by a handshake.

    ``env`` forces a particular built env (``predict`` uses the one that trained the model).

    Raises:
        EnvError: ``inline`` asked for an adapter that needs another interpreter;
            the env is missing under ``build=False``; building failed; the handshake failed.
    """
    environment: Environment = adapter.environment
    built = env if env is not None else ensure_env(environment, build=build, adapter_name=adapter.name, echo=echo)
    if built is None:
        return WorkerEnv(sys.executable, {}, {"name": environment.name, "isolated": False})
    if inline:
        raise EnvError(f"backend {adapter.name!r} runs in its own env {built.name!r} (Python {environment.python}): "
                       "it cannot run inline in this interpreter; run it without --inline")
    plugin = plugin_packages(adapter)
    worker = handshake(built, [type(adapter).__module__], plugin=plugin)
    extra = worker_vars(built, plugin)
    info = {"name": built.name, "isolated": True, "key": built.key, "fingerprint": built.fingerprint,
            "lock_sha256": built.meta.get("lock_sha256"), "lock_source": built.meta.get("lock_source"),
            "path": str(built.path), "python": worker.get("python"), "builder": built.meta.get("builder"),
            "automux_source_sha256": worker.get("source_sha256")}
    if plugin:
        info["plugin"] = dict(plugin_distribution(adapter) or {}, source_sha256=(worker.get("sources") or {}).get(
            type(adapter).__module__.split(".")[0]))
    return WorkerEnv(str(built.python), extra, info)
