"""The code a worker in an isolated env imports: the parent's automux and a plugin's package, via ``PYTHONPATH``.

Neither automux nor a plugin is installed into an env: the worker gets the
parent's automux package, and the top-level package of a third-party adapter's
module, through a directory holding only symlinks to them (:func:`code_dir`).
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Dict, Optional

from .cache import BuiltEnv
from .home import automux_home


def plugin_packages(adapter: Any) -> Dict[str, Path]:
    """{top-level import name: its directory or file} of a third-party adapter's module ({} for automux's own).

    This is the plugin's code as the parent imports it (an editable checkout, a
    wheel's install, a site-packages copy): the worker imports the same files.
    """
    import importlib.util

    module = type(adapter).__module__ if adapter is not None else "automux"
    top = module.split(".")[0]
    if top in ("automux", "__main__", "builtins"):
        return {}
    spec = importlib.util.find_spec(top)
    if spec is None:
        return {}
    if spec.submodule_search_locations:
        return {top: Path(list(spec.submodule_search_locations)[0]).resolve()}
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return {top + Path(spec.origin).suffix: Path(spec.origin).resolve()}
    return {}


def plugin_distribution(adapter: Any) -> Optional[Dict[str, str]]:
    """The installed distribution that provides a third-party adapter's module, or None."""
    pkgs = plugin_packages(adapter)
    if not pkgs:
        return None
    top = type(adapter).__module__.split(".")[0]
    try:
        from importlib.metadata import packages_distributions, version
        names = packages_distributions().get(top) or []
    except Exception:
        names = []
    if not names:
        return {"name": top, "version": None, "import_name": top}
    try:
        ver = version(names[0])
    except Exception:
        ver = None
    return {"name": names[0], "version": ver, "import_name": top}


def code_dir(extra: Optional[Dict[str, Path]] = None) -> Path:
    """A directory holding only symlinks: ``automux`` -> the parent's automux package, plus ``extra``.

    It goes first on the worker's ``PYTHONPATH``: the worker imports the parent's
    automux code (and a plugin's own package, ``extra``), and nothing else of the
    parent's environment.
    """
    from .handshake import package_dir

    links: Dict[str, Path] = {"automux": package_dir()}
    links.update(extra or {})
    ident = json.dumps({k: str(v) for k, v in sorted(links.items())}, sort_keys=True)
    d = automux_home() / "code" / hashlib.sha256(ident.encode()).hexdigest()[:16]
    for name, target in links.items():
        link = d / name
        if not (link.is_symlink() and os.readlink(str(link)) == str(target)):
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / f".{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            os.symlink(str(target), str(tmp))
            os.replace(str(tmp), str(link))
    return d


def worker_vars(env: BuiltEnv, plugin: Optional[Dict[str, Path]] = None) -> Dict[str, str]:
    """Environment variables for a worker in ``env``: automux's (and a plugin's) code on the path, the env's bin first."""
    return {"PYTHONPATH": str(code_dir(plugin)), "VIRTUAL_ENV": str(env.path), "PYTHONNOUSERSITE": "1",
            "PATH": f"{env.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "AUTOMUX_ENV": env.name}
