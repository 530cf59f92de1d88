"""Env locks: every isolated env is installed from a lock, and the lock's hash is the env's identity.

A lock is a requirements file of exact pins (``name==version``, with ``--hash``
lines when uv resolved it), headed by comment lines that name the recipe it was
resolved for (``# recipe-key: KEY``). Where a recipe's lock comes from, first
match wins:

1. ``$AUTOMUX_HOME/locks/NAME-KEY16.txt``: resolved on this machine (a recipe
   no lock ships for, or ``automux env build NAME --upgrade``);
2. ``automux/envlocks/NAME.txt`` (package data): the committed lock of a
   first-party recipe, used only when its ``recipe-key`` equals the recipe's key
   (a recipe edited without re-locking falls through to 3);
3. none: the build resolves one (``uv pip compile --generate-hashes`` for the
   env's interpreter) and saves it as 1.

:func:`lock_hash` is sha256 over the lock's requirement lines (comments and
blank lines dropped, so the header's date does not count): the cache directory
is ``NAME-HASH16`` and a record's ``env.automux_env.fingerprint`` is ``HASH16``.
Two builds from one lock, on any day, have the same fingerprint.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

#: Committed locks of first-party recipes (package data).
PACKAGED_DIR = Path(__file__).resolve().parents[2] / "envlocks"
KEY_PREFIX = "# recipe-key:"


@dataclass(frozen=True)
class Lock:
    """A lock's text and where it came from (``local``, ``packaged`` or ``resolved``)."""

    text: str
    path: Path
    source: str

    @property
    def sha256(self) -> str:
        return lock_hash(self.text)

    @property
    def short(self) -> str:
        return self.sha256[:16]

    def pins(self) -> List[str]:
        return pinned_lines(self.text)


def pinned_lines(text: str) -> List[str]:
    """The requirement lines of a lock (continuations joined), without comments or blanks."""
    out: List[str] = []
    cur = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("--hash") else raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cur = (cur + " " + line.strip().rstrip("\\").strip()) if cur else line.strip().rstrip("\\").strip()
        if not raw.rstrip().endswith("\\"):
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def lock_hash(text: str) -> str:
    """sha256 over the lock's requirement lines, in file order (the header does not count)."""
    return hashlib.sha256("\n".join(pinned_lines(text)).encode()).hexdigest()


def recipe_key_of(text: str) -> Optional[str]:
    for line in text.splitlines():
        if line.startswith(KEY_PREFIX):
            return line[len(KEY_PREFIX):].strip()
    return None


def header(name: str, key: str, python: str, how: str) -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (f"# automux env lock for {name!r} (Python {python}); resolved {stamp} by {how}\n"
            f"# Rebuilt envs install exactly this; `automux env build {name} --upgrade` re-resolves.\n"
            f"{KEY_PREFIX} {key}\n")


def local_path(home: Path, name: str, key: str) -> Path:
    return Path(home) / "locks" / f"{name}-{key[:16]}.txt"


def find_lock(home: Path, name: str, key: str) -> Optional[Lock]:
    """The lock for recipe ``name`` / ``key``: the local one, else the packaged one if its key matches."""
    local = local_path(home, name, key)
    if local.is_file():
        return Lock(local.read_text(encoding="utf-8"), local, "local")
    packaged = PACKAGED_DIR / f"{name}.txt"
    if packaged.is_file():
        text = packaged.read_text(encoding="utf-8")
        if recipe_key_of(text) == key:
            return Lock(text, packaged, "packaged")
    return None


def packaged_lock_state(name: str, key: str) -> str:
    """``current`` / ``stale`` (a committed lock for another recipe key) / ``none``."""
    packaged = PACKAGED_DIR / f"{name}.txt"
    if not packaged.is_file():
        return "none"
    return "current" if recipe_key_of(packaged.read_text(encoding="utf-8")) == key else "stale"


def save_local(home: Path, name: str, key: str, text: str) -> Lock:
    """Write a resolved lock atomically under ``$AUTOMUX_HOME/locks``."""
    path = local_path(home, name, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(str(tmp), str(path))
    return Lock(text, path, "local")


def write_to(path: Path, text: str) -> Lock:
    """Write a lock to ``path`` only (``env lock --out``), atomically; no local lock is saved."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(str(tmp), str(path))
    return Lock(text, path, "resolved")
