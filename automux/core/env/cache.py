"""The cache of built envs under ``$AUTOMUX_HOME/envs``: finding, listing and removing them.

An env's directory is ``NAME-LOCKHASH16``; its fingerprint (every record's
``env.automux_env.fingerprint``) is ``LOCKHASH16``. A directory is an env only
with its ``complete`` marker, its ``automux-env.json`` and an interpreter: a
half-built one is never used. Building and removing hold a per-env-name file lock.
"""
from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from .home import env_python, envs_dir, make_dir
from .recipe import Recipe

MARKER = "complete"
META = "automux-env.json"
LOCK = "lock.txt"


@dataclass(frozen=True)
class BuiltEnv:
    """A complete env on disk and what its ``automux-env.json`` says."""

    path: Path
    meta: Dict[str, Any]

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def key(self) -> str:
        return self.meta["key"]

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    @property
    def python(self) -> Path:
        return env_python(self.path)

    def to_json(self) -> Dict[str, Any]:
        d = {k: v for k, v in self.meta.items() if k != "packages"}
        d["path"] = str(self.path)
        d["n_packages"] = len(self.meta.get("packages", {}))
        return d


def is_complete(path: Path) -> bool:
    """Only a directory with the marker, its metadata and an interpreter is an env."""
    return (path / MARKER).is_file() and (path / META).is_file() and env_python(path).exists()


def load_built(path: Path) -> Optional[BuiltEnv]:
    if not is_complete(path):
        return None
    try:
        return BuiltEnv(path, json.loads((path / META).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def find_built(recipe: Recipe) -> Optional[BuiltEnv]:
    """The complete env built from ``recipe``'s current lock, or None (no lock yet, or not built)."""
    lock = recipe.lock()
    if lock is None:
        return None
    return load_built(envs_dir() / recipe.dir_name_for(lock))


def built_envs(name: Optional[str] = None) -> List[BuiltEnv]:
    """Every complete env in the cache (optionally only those called ``name``), by name then date."""
    root = envs_dir()
    if not root.is_dir():
        return []
    out = [e for e in (load_built(p) for p in sorted(root.iterdir()) if not p.name.startswith(".")) if e is not None]
    if name is not None:
        out = [e for e in out if e.name == name]
    return sorted(out, key=lambda e: (e.name, e.meta.get("built_utc", "")))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (POSIX flock); held while building or removing."""
    make_dir(path.parent)
    with open(path, "a+") as f:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)



def remove_env(name: str) -> List[str]:
    """Delete every cached env called ``name`` (any recipe or automux version); returns the paths."""
    root = envs_dir()
    removed: List[str] = []
    if not root.is_dir():
        return removed
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        env = load_built(path)
        meta_name = env.name if env is not None else None
        if meta_name is None:  # a directory without metadata: match on the name part
            if not path.name.startswith(f"{name}-") or len(path.name) != len(name) + 17:
                continue
        elif meta_name != name:
            continue
        with file_lock(root / f".{name}.lock"):
            shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    for tmp in root.glob(f".tmp-{name}-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    return removed
