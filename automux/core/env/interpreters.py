"""Find a Python interpreter for an environment's version range (``==3.9.*``, ``>=3.9,<3.12``).

Where automux looks, in order, for each wanted minor version X.Y (the current
interpreter's first, then newest first):

1. ``AUTOMUX_PYTHON_X_Y=/path``: an explicit override; if it is set but unusable
   that is an error, never silently skipped;
2. the current interpreter (its base interpreter when automux runs in a venv);
3. ``uv python find --system X.Y``;
4. pyenv's versions directory (``$PYENV_ROOT`` or ``~/.pyenv``), newest patch first;
5. ``pythonX.Y`` on ``PATH`` (pyenv shims that refuse to run are skipped);
6. ``uv python install X.Y``, unless ``AUTOMUX_PYTHON_DOWNLOADS=never`` (it needs
   the network, so it comes last).

Every candidate is run once to read its real version: a path is never trusted.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

from .errors import InterpreterNotFound

Version = Tuple[int, ...]

DOWNLOADS_ENV = "AUTOMUX_PYTHON_DOWNLOADS"
#: Minor versions of CPython 3 that a range is probed against.
KNOWN_MINORS = tuple(range(6, 16))
PROBE_TIMEOUT_S = 20.0
INSTALL_TIMEOUT_S = 300.0

_CLAUSE = re.compile(r"^\s*(===|==|!=|<=|>=|~=|<|>)?\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?\s*$")


def parse_version(text: str) -> Version:
    """``"3.9.18"`` -> ``(3, 9, 18)``; a pre-release suffix is dropped."""
    m = re.match(r"^\s*(\d+(?:\.\d+)*)", text)
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(p) for p in m.group(1).split("."))


def _pad(v: Version, n: int) -> Version:
    return tuple(v) + (0,) * (n - len(v))


def _clause_ok(op: str, want: Version, wildcard: bool, have: Version) -> bool:
    if wildcard:
        prefix = have[: len(want)]
        return (_pad(prefix, len(want)) == want) == (op != "!=")
    n = max(len(want), len(have))
    a, b = _pad(have, n), _pad(want, n)
    if op in ("==", "==="):
        return a == b
    if op == "!=":
        return a != b
    if op == ">=":
        return a >= b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == "<":
        return a < b
    if op == "~=":  # compatible release: >= want and == want[:-1].*
        return a >= b and have[: len(want) - 1] == want[:-1]
    raise ValueError(op)


def version_in(spec: str, version: Version) -> bool:
    """Whether ``version`` satisfies a comma-separated Python range such as ``>=3.9,<3.10``.

    Raises:
        ValueError: a clause is not ``OP X.Y[.Z][.*]`` (a bare ``3.9`` means ``==3.9.*``).
    """
    for raw in (spec or "").split(","):
        if not raw.strip():
            continue
        m = _CLAUSE.match(raw)
        if not m:
            raise ValueError(f"cannot read the Python range clause {raw.strip()!r} in {spec!r}")
        op, num, star = m.group(1), parse_version(m.group(2)), bool(m.group(3))
        if op is None:  # "3.9" -> any 3.9.x
            op, star = "==", True
        if not _clause_ok(op, num, star, tuple(version)):
            return False
    return True


def wanted_minors(spec: str, prefer: Optional[Version] = None) -> List[Tuple[int, int]]:
    """The (3, Y) minors a range allows: ``prefer``'s minor first, then newest first."""
    out = [(3, m) for m in sorted(KNOWN_MINORS, reverse=True)
           if version_in(spec, (3, m, 0)) or version_in(spec, (3, m, 99))]
    if prefer is not None and tuple(prefer[:2]) in out:
        out.remove(tuple(prefer[:2]))
        out.insert(0, tuple(prefer[:2]))
    return out


def override_var(minor: Tuple[int, int]) -> str:
    """``AUTOMUX_PYTHON_3_9`` for (3, 9)."""
    return f"AUTOMUX_PYTHON_{minor[0]}_{minor[1]}"


@dataclass(frozen=True)
class Interpreter:
    """A checked interpreter: its path, the version it reported, and where it was found."""

    path: str
    version: Version
    source: str

    @property
    def version_text(self) -> str:
        return ".".join(str(p) for p in self.version)


def probe(path: str, timeout: float = PROBE_TIMEOUT_S) -> Optional[Tuple[Version, str]]:
    """Run ``path`` and return (version, base executable), or None if it does not run."""
    code = ("import sys, json; print(json.dumps([list(sys.version_info[:3]), "
            "getattr(sys, '_base_executable', None) or sys.executable, sys.executable]))")
    try:
        proc = subprocess.run([path, "-c", code], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    try:
        version, base, exe = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return tuple(version), (base if base and os.path.exists(base) else exe)


def find_uv() -> Optional[str]:
    """uv next to the running interpreter (a dev install), else on PATH; ``AUTOMUX_UV=none`` disables it."""
    forced = os.environ.get("AUTOMUX_UV")
    if forced:
        return None if forced.lower() in ("none", "0", "no", "off") else forced
    here = Path(sys.executable).parent / "uv"
    if here.is_file() and os.access(str(here), os.X_OK):
        return str(here)
    return shutil.which("uv")


def _pyenv_root() -> Path:
    root = os.environ.get("PYENV_ROOT")
    return Path(root) if root else Path.home() / ".pyenv"


def pyenv_candidates(minor: Tuple[int, int], root: Optional[Path] = None) -> List[str]:
    """``ROOT/versions/X.Y.Z/bin/pythonX.Y`` for every patch of ``minor``, newest first."""
    versions = (root or _pyenv_root()) / "versions"
    if not versions.is_dir():
        return []
    found = []
    for d in versions.iterdir():
        m = re.match(r"^(\d+)\.(\d+)\.(\d+)$", d.name)  # skips 3.13.0t, -dev, envs
        if not m or (int(m.group(1)), int(m.group(2))) != tuple(minor):
            continue
        for exe in (d / "bin" / f"python{minor[0]}.{minor[1]}", d / "bin" / "python3", d / "bin" / "python"):
            if exe.exists():
                found.append((tuple(int(g) for g in m.groups()), str(exe)))
                break
    return [exe for _, exe in sorted(found, reverse=True)]


def _uv_find(uv: Optional[str], minor: Tuple[int, int]) -> List[str]:
    if not uv:
        return []
    try:
        proc = subprocess.run([uv, "python", "find", "--system", f"{minor[0]}.{minor[1]}"], capture_output=True,
                              text=True, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return []
    path = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else ""
    return [path] if path else []


def _uv_install(uv: Optional[str], minor: Tuple[int, int], log: Callable[[str], None]) -> List[str]:
    if not uv or os.environ.get(DOWNLOADS_ENV, "").lower() in ("never", "0", "no", "off"):
        return []
    log(f"no local Python {minor[0]}.{minor[1]}: trying `uv python install {minor[0]}.{minor[1]}`")
    try:
        proc = subprocess.run([uv, "python", "install", f"{minor[0]}.{minor[1]}"], capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        log(f"uv python install failed: {e}")
        return []
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        log(f"uv python install failed: {last}")
        return []
    return _uv_find(uv, minor)


def _candidates(minor: Tuple[int, int], allow_download: bool,
                log: Callable[[str], None]) -> Iterator[Tuple[str, str]]:
    uv = find_uv()
    cur = sys.version_info
    if (cur[0], cur[1]) == tuple(minor):
        yield getattr(sys, "_base_executable", None) or sys.executable, "current interpreter"
    for p in _uv_find(uv, minor):
        yield p, "uv python find"
    for p in pyenv_candidates(minor):
        yield p, "pyenv versions"
    on_path = shutil.which(f"python{minor[0]}.{minor[1]}")
    if on_path:
        yield on_path, "PATH"
    if allow_download:
        for p in _uv_install(uv, minor, log):
            yield p, "uv python install"


def find_interpreter(spec: str, *, env_name: str = "", allow_download: bool = True,
                     log: Callable[[str], None] = lambda msg: None) -> Interpreter:
    """The first working interpreter whose version satisfies ``spec`` (see the module docstring).

    Raises:
        InterpreterNotFound: nothing found, or an override variable points at a
            path that does not run or has the wrong version. The message names the
            version needed and how to point automux at one.
    """
    minors = wanted_minors(spec, prefer=tuple(sys.version_info[:2]))
    if not minors:
        raise InterpreterNotFound(f"the Python range {spec!r} of env {env_name or '?'} allows no CPython 3.x version")
    for minor in minors:
        var = override_var(minor)
        forced = os.environ.get(var)
        if forced:
            got = probe(forced)
            if got is None:
                raise InterpreterNotFound(f"{var}={forced} does not run as a Python interpreter: "
                                          f"point it at a working python{minor[0]}.{minor[1]}")
            version, base = got
            if not version_in(spec, version):
                raise InterpreterNotFound(f"{var}={forced} is Python {'.'.join(map(str, version))}, "
                                          f"but env {env_name or '?'} needs Python {spec}")
            return Interpreter(base, version, f"${var}")
    for minor in minors:
        seen = set()
        for path, source in _candidates(minor, allow_download, log):
            if path in seen:
                continue
            seen.add(path)
            got = probe(path)
            if got is not None and version_in(spec, got[0]):
                return Interpreter(got[1], got[0], source)
    first = minors[0]
    raise InterpreterNotFound(
        f"env {env_name or '?'} needs Python {spec} and none was found (looked at the current interpreter, "
        f"uv, pyenv's versions directory, python{first[0]}.{first[1]} on PATH"
        f"{', uv python install' if allow_download else ''}): install one (`uv python install "
        f"{first[0]}.{first[1]}` or `pyenv install {first[0]}.{first[1]}`) or point automux at one with "
        f"{override_var(first)}=/path/to/python{first[0]}.{first[1]}")

