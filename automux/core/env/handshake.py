"""The handshake: proves that a worker interpreter runs the same automux code as the parent.

``python -m automux.core.env.handshake [MODULE ...]`` prints one JSON line: the
automux version, a sha256 over every ``.py`` file of the automux package it
imported (relative path + bytes), where that package lives, the interpreter
and its version, whether ``automux.core.run.worker`` and each MODULE (adapter
modules) import, and for a MODULE outside automux (a plugin) the same hash over
its top-level package (``sources``). The parent compares the version and the hash with its own
before it starts a job. Imports on Python 3.9 with the standard library only.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional


def package_dir() -> Path:
    """The directory of the automux package this interpreter imports."""
    import automux
    return Path(automux.__file__).resolve().parent


def source_fingerprint(root: Optional[Path] = None) -> str:
    """sha256 over a package's ``.py`` files (automux's by default), in sorted relative-path order.

    ``root`` may also be a single-module plugin's file.
    """
    root = Path(root) if root is not None else package_dir()
    h = hashlib.sha256()
    if root.is_file():
        files = [root]
        root = root.parent
    else:
        files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    for p in files:
        rel = p.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def identity(modules: Optional[List[str]] = None) -> Dict[str, Any]:
    """What this interpreter says about itself and the automux code it runs."""
    from ..._version import __version__

    out: Dict[str, Any] = {
        "automux_version": __version__, "source_sha256": source_fingerprint(),
        "package_dir": str(package_dir()), "python": platform.python_version(),
        "executable": sys.executable, "prefix": sys.prefix, "pid": os.getpid(), "imports": {},
        "sources": {},
    }
    for name in ["automux.core.run.worker"] + list(modules or []):
        try:
            importlib.import_module(name)
            out["imports"][name] = "ok"
        except BaseException as e:  # reported to the parent, which refuses to run the job
            out["imports"][name] = f"{type(e).__name__}: {e}"
            continue
        top = name.split(".")[0]
        if top != "automux":
            mod = sys.modules.get(top)
            paths = list(getattr(mod, "__path__", []) or [])
            where = Path(paths[0]) if paths else Path(getattr(mod, "__file__", "") or ".")
            out["sources"][top] = source_fingerprint(where.resolve())
    return out


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.stdout.write(json.dumps(identity(argv), sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
