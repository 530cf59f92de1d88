"""Isolated backend environments: recipe -> lock -> cached env -> checked worker interpreter.

An adapter's ``environment`` (:class:`~automux.core.capabilities.Environment`) is
its recipe. ``main`` means automux's own interpreter; any other name, first- or
third-party, is always an isolated env, built with uv when present and venv +
pip otherwise under ``$AUTOMUX_HOME/envs`` (default ``~/.cache/automux``).

Invariants:

* every env is installed from a lock (:mod:`automux.core.env.lock`): the
  committed one of a first-party recipe, else one resolved here once and kept
  under ``$AUTOMUX_HOME/locks``; ``upgrade`` re-resolves on purpose. The recipe
  key is sha256(name, Python range, requirements, automux's core requirements);
  the env's directory is ``NAME-LOCKHASH16`` and its fingerprint (every record's
  ``env.automux_env.fingerprint``) is ``LOCKHASH16``. ``installed_fingerprint``
  is sha256 over what was actually installed (the formula of
  :func:`automux.core.env.envinfo.describe_env`);
* a build happens in a temp directory under a per-env-name file lock; the
  installed package list, ``automux-env.json`` and the ``complete`` marker are
  written last, then the directory is renamed into place. A directory without
  the marker is never used, and a failed build leaves none behind: only its log
  under ``$AUTOMUX_HOME/logs``, whose path the error message gives;
* neither automux nor a plugin is installed into an env: the worker gets the
  parent's automux package, and the top-level package of a third-party
  adapter's module, through ``PYTHONPATH`` (a directory holding only symlinks to
  them, :func:`code_dir`); before any job :func:`handshake` checks that the
  worker imports the same automux version with the same source hash, the same
  plugin source (sha256 over its package's ``.py`` files), and that the worker
  and the adapter module import there. A plugin lists its backend's own
  dependencies in ``Environment.requirements``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..._version import __version__
from ..capabilities import Environment
from . import lock as locks
from .errors import EnvBuildError, EnvError, EnvNotBuilt, HandshakeError, InterpreterNotFound
from .interpreters import DOWNLOADS_ENV, find_interpreter, find_uv, parse_version, version_in

HOME_ENV = "AUTOMUX_HOME"
MARKER = "complete"
META = "automux-env.json"
LOCK = "lock.txt"
MAIN = "main"
#: automux's own dependencies, when its distribution metadata cannot be read.
CORE_FALLBACK = ("pluggy>=1.3", "numpy>=1.21", "pandas>=1.3", "pyarrow>=10")
CORE_IMPORTS = ("pluggy", "numpy", "pandas", "pyarrow")
#: pyarrow declares no numpy requirement, but its wheels from 26 on refuse NumPy < 2 at import (measured:
#: 25.0.0 imports with numpy 1.26.4, 26.0.1 raises "pyarrow requires NumPy 2.0 or newer"). A recipe whose
#: pins hold NumPy at 1.x gets this bound too, so the worker's pyarrow resolves together with its numpy.
NUMPY1_PYARROW = "pyarrow<26"
#: The env's import check: each module on its own, so a failure names the one that broke.
_IMPORT_CHECK = ("import importlib, sys\nfor m in {modules!r}:\n    try:\n        importlib.import_module(m)\n"
                 "    except BaseException as e:\n        print(f'cannot import {{m}}: {{type(e).__name__}}: {{e}}')\n"
                 "        sys.exit(1)\n")
#: (text in a failed step's output, the pin that fixes it): said in the build error.
KNOWN_FIXES = (
    ("No module named 'pkg_resources'", "add \"setuptools<70\" to the recipe's requirements (newer setuptools "
                                        "no longer provides pkg_resources)"),
    ("requires NumPy 2.0 or newer", "pin numpy>=2 or the failing package below its NumPy-2-only release "
                                    "(pyarrow<26)"),
    ("numpy.dtype size changed", "a compiled package was built against another NumPy: pin numpy to the major "
                                 "version it was built for (often numpy<2)"),
)
STEP_TIMEOUT_S = 1800.0
HANDSHAKE_TIMEOUT_S = 180.0
#: Build output lines worth showing on the progress display (the rest goes to the log only).
_SHOWN_PREFIXES = ("Resolved", "Prepared", "Installed", "Downloading", "Collecting", "Successfully installed")

Echo = Callable[[str], None]

# Mirrors automux.core.env.envinfo.package_versions / describe_env: keep the two in step.
def _lock_script() -> str:
    """The script that lists an env's packages: ``envinfo.package_versions`` itself, so the filter is written once."""
    import inspect

    from . import envinfo

    return ("import json, platform\nfrom typing import Dict\n\n" + inspect.getsource(envinfo.package_versions)
            + "\nprint(json.dumps({'python': platform.python_version(), 'machine': platform.machine(), "
              "'packages': package_versions()}))\n")


def automux_home() -> Path:
    """``$AUTOMUX_HOME``, else ``$XDG_CACHE_HOME/automux``, else ``~/.cache/automux``."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "automux"


def make_dir(path: Path) -> Path:
    """``path`` created (with parents) and writable, or an :class:`EnvError` in one line naming ``$AUTOMUX_HOME``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EnvError(f"cannot create {path}: {e.strerror}: set {HOME_ENV} to a writable directory") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise EnvError(f"{path} is not writable: set {HOME_ENV} to a writable directory")
    return path


def envs_dir() -> Path:
    return automux_home() / "envs"


def logs_dir() -> Path:
    return automux_home() / "logs"


def env_python(path: Path) -> Path:
    return Path(path) / "bin" / "python"


def core_requirements() -> Tuple[str, ...]:
    """automux's own (non-extra) requirements: every isolated env gets them too."""
    try:
        from importlib.metadata import requires
        reqs = requires("automux") or []
    except Exception:
        reqs = []
    core = tuple(sorted(r.strip() for r in reqs if "extra" not in r.partition(";")[2]))
    return core or CORE_FALLBACK


def fingerprint_of(lock: Dict[str, Any]) -> str:
    """The env fingerprint: the same formula as ``describe_env`` (Python, machine, every package)."""
    body = json.dumps({"python": lock["python"], "machine": lock["machine"], "packages": lock["packages"]},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Recipe:
    """What an isolated env is built from; ``key`` identifies its cache directory."""

    name: str
    python: str
    requirements: Tuple[str, ...]
    core: Tuple[str, ...] = CORE_FALLBACK
    import_names: Tuple[str, ...] = ()
    automux_version: str = __version__

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "python": self.python, "requirements": list(self.requirements),
                "core": list(self.core), "import_names": list(self.import_names),
                "automux_version": self.automux_version}

    @property
    def key(self) -> str:
        """sha256 over what is resolved: name, Python range, requirements, core requirements.

        Not the automux version: automux is not installed into the env, so a
        release that keeps its core requirements keeps every committed lock.
        """
        body = {k: v for k, v in self.to_json().items() if k not in ("import_names", "automux_version")}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def lock(self) -> Optional["locks.Lock"]:
        """The lock this recipe installs from (local, else packaged), or None before the first build."""
        return locks.find_lock(automux_home(), self.name, self.key)

    def dir_name_for(self, lock: "locks.Lock") -> str:
        return f"{self.name}-{lock.short}"

    def describe(self) -> str:
        pins = ", ".join(self.requirements[:3]) + (", ..." if len(self.requirements) > 3 else "")
        return f"Python {self.python}; {pins}"


def recipe_for(environment: Environment) -> Recipe:
    """The recipe of an adapter's declared environment."""
    if not environment.name or environment.name == MAIN:
        raise EnvError("the main env is automux's own interpreter: there is nothing to build")
    return Recipe(name=environment.name, python=environment.python,
                  requirements=tuple(environment.requirements), core=core_requirements(),
                  import_names=tuple(environment.import_names))


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


def _load(path: Path) -> Optional[BuiltEnv]:
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
    return _load(envs_dir() / recipe.dir_name_for(lock))


def built_envs(name: Optional[str] = None) -> List[BuiltEnv]:
    """Every complete env in the cache (optionally only those called ``name``), by name then date."""
    root = envs_dir()
    if not root.is_dir():
        return []
    out = [e for e in (_load(p) for p in sorted(root.iterdir()) if not p.name.startswith(".")) if e is not None]
    if name is not None:
        out = [e for e in out if e.name == name]
    return sorted(out, key=lambda e: (e.name, e.meta.get("built_utc", "")))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
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


def stderr_echo(name: str) -> Echo:
    """The default build display: ``[env NAME] ...`` lines on stderr."""
    def echo(msg: str) -> None:
        sys.stderr.write(f"[env {name}] {msg}\n")
        sys.stderr.flush()
    return echo


def _clean_env() -> Dict[str, str]:
    env = dict(os.environ)
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT"):
        env.pop(var, None)
    env["PYTHONNOUSERSITE"] = "1"
    return env


class _Build:
    """One build attempt: every step's command and output go to the log."""

    def __init__(self, recipe: Recipe, tmp: Path, log_path: Path, echo: Echo, allow_download: bool,
                 lock: Optional["locks.Lock"]) -> None:
        self.recipe, self.tmp, self.log_path, self.echo = recipe, tmp, log_path, echo
        self.lock = lock
        self.allow_download = allow_download
        self.step = "starting"
        self.t0 = time.monotonic()
        self.scratch = str(tmp.parent)

    def _log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(text + "\n")

    def _run(self, step: str, cmd: Sequence[str], show: bool = False) -> str:
        """Run one step; output to the log (and selected lines to the display); returns stdout."""
        self.step = step
        self._log(f"\n### {step} ({time.monotonic() - self.t0:.1f}s)\n$ {' '.join(map(str, cmd))}")
        lines: List[str] = []
        try:
            proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True, env=_clean_env(), cwd=self.scratch)
        except OSError as e:
            self._log(f"cannot start: {e}")
            raise self._failure(str(e)) from e
        watchdog = threading.Timer(STEP_TIMEOUT_S, proc.kill)  # a silent hang (network) ends too
        watchdog.daemon = True
        watchdog.start()
        try:
            assert proc.stdout is not None
            with open(self.log_path, "a", encoding="utf-8") as log:
                for line in proc.stdout:
                    log.write(line)
                    log.flush()
                    lines.append(line.rstrip("\n"))
                    text = line.strip()
                    if show and text.startswith(_SHOWN_PREFIXES):
                        self.echo(text)
            rc = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if rc != 0:
            self._log(f"exit status {rc}")
            if rc < 0:
                lines.append(f"killed after {STEP_TIMEOUT_S:.0f}s" if rc == -9 else f"signal {-rc}")
            detail = " | ".join(l.strip() for l in lines if l.strip())[-600:] or f"exit status {rc}"
            raise self._failure(detail)
        return "\n".join(lines)

    def _failure(self, detail: str) -> EnvBuildError:
        fix = next((f"; {hint}" for known, hint in KNOWN_FIXES if known in detail), "")
        return EnvBuildError(f"building env {self.recipe.name!r} failed while {self.step}: {detail}{fix} "
                             f"(full log: {self.log_path})")

    def run(self) -> Dict[str, Any]:
        # Steps run from a scratch dir: imports may write files into the cwd (PyCaret's logs.log).
        self.scratch = tempfile.mkdtemp(prefix="automux-build-")
        try:
            return self._steps()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _steps(self) -> Dict[str, Any]:
        r = self.recipe
        self._log(f"automux {__version__} building env {r.name} into {self.tmp}\nrecipe: "
                  f"{json.dumps(r.to_json(), sort_keys=True)}\nkey: {r.key}")
        self.step = "finding a Python interpreter"
        try:
            interp = find_interpreter(r.python, env_name=r.name, allow_download=self.allow_download,
                                      log=lambda m: (self._log(m), self.echo(m)))
        except InterpreterNotFound as e:
            self._log(str(e))
            raise
        uv = find_uv()
        builder = "uv" if uv else "venv+pip"
        self.echo(f"building with {builder}: Python {interp.version_text} ({interp.path}, from {interp.source})")
        self.echo(f"log: {self.log_path}")
        py = env_python(self.tmp)
        if uv:
            self._run("creating the venv", [uv, "venv", "--relocatable", "--no-project", "--no-config", "-q",
                                            "--python", interp.path, self.tmp])
        else:
            self._run("creating the venv", [interp.path, "-m", "venv", self.tmp])
        if self.lock is None and uv:
            self.lock = self._resolve(uv, interp)
        if self.lock is not None:
            self.echo(f"installing {len(self.lock.pins())} locked packages from {self.lock.path} "
                      f"(lock {self.lock.short}, {self.lock.source})")
            if uv:
                self._run("installing the lock", [uv, "pip", "sync", "--no-config", "--python", py,
                                                  self.lock.path], show=True)
            else:
                self._run("installing the lock", [py, "-m", "pip", "install", "--disable-pip-version-check",
                                                  "--no-input", "--no-deps", "-r", self.lock.path], show=True)
        else:  # venv + pip and nothing locked yet: install the recipe, then lock what was installed
            self.echo(f"installing {len(r.requirements)} pinned requirements + automux's core dependencies "
                      "(no lock yet: the installed versions become it)")
            self._run("installing requirements", [py, "-m", "pip", "install", "--disable-pip-version-check",
                                                  "--no-input"] + list(r.requirements) + list(r.core), show=True)
            frozen = self._run("listing what pip installed", [py, "-m", "pip", "freeze", "--disable-pip-version-check"])
            bound = numpy1_bound(_pinned_versions(frozen))
            if bound:
                self._run("bounding pyarrow for NumPy 1", [py, "-m", "pip", "install", "--disable-pip-version-check",
                                                          "--no-input"] + list(r.requirements) + [bound], show=True)
        core_modules = list(CORE_IMPORTS) if r.core else []
        modules = core_modules + [m for m in r.import_names if m not in core_modules]
        if modules:
            self.echo(f"checking that {', '.join(modules)} import")
            self._run("checking imports", [py, "-c", _IMPORT_CHECK.format(modules=modules)])
        lock = json.loads(self._run("listing the installed packages", [py, "-c", _lock_script()]
                                    ).strip().splitlines()[-1])
        self.step = "writing the metadata"
        if not version_in(r.python, parse_version(lock["python"])):
            raise self._failure(f"the venv runs Python {lock['python']}, outside {r.python}")
        installed_text = "".join(f"{n}=={v}\n" for n, v in lock["packages"].items())
        if self.lock is None:
            self.lock = locks.save_local(automux_home(), r.name, r.key, locks.header(
                r.name, r.key, lock["python"], "pip (the installed set, no hashes)") + installed_text)
        (self.tmp / LOCK).write_text(installed_text, encoding="utf-8")
        (self.tmp / "env-lock.txt").write_text(self.lock.text, encoding="utf-8")
        meta = dict(r.to_json(), key=r.key, fingerprint=self.lock.short, lock_sha256=self.lock.sha256,
                    lock_source=self.lock.source, lock_path=str(self.lock.path),
                    installed_fingerprint=fingerprint_of(lock), python_version=lock["python"],
                    machine=lock["machine"], interpreter=interp.path, interpreter_source=interp.source,
                    builder=builder, built_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    build_s=round(time.monotonic() - self.t0, 2), log=str(self.log_path),
                    packages=lock["packages"])
        (self.tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        (self.tmp / MARKER).write_text(meta["built_utc"] + "\n", encoding="utf-8")
        return meta

    def _resolve(self, uv: str, interp: Any, out_path: Optional[Path] = None) -> "locks.Lock":
        """``uv pip compile`` the recipe together with automux's core requirements for the env's interpreter,
        with hashes; saved as the local lock. Where the result holds NumPy < 2, pyarrow is bounded to a
        release that imports with it (:data:`NUMPY1_PYARROW`) and the recipe resolved again. ``out_path``:
        write the lock there only (no local lock, which would win over a packaged one)."""
        r = self.recipe
        req_in = Path(self.scratch) / "requirements.in"
        out = Path(self.scratch) / "lock.txt"
        self.echo(f"resolving a lock for {len(r.requirements)} requirements + automux's core dependencies")
        extra: List[str] = []
        while True:
            req_in.write_text("".join(f"{q}\n" for q in list(r.requirements) + list(r.core) + extra),
                              encoding="utf-8")
            self._run("resolving the lock", [uv, "pip", "compile", "--no-config", "--quiet", "--generate-hashes",
                                             "--no-header", "--python", interp.path, req_in, "-o", out])
            bound = numpy1_bound(_pinned_versions(out.read_text(encoding="utf-8")))
            if not bound or extra:
                break
            self.echo(f"NumPy < 2 in the resolved set: resolving again with {bound}")
            extra = [bound]
        text = locks.header(r.name, r.key, interp.version_text, "uv pip compile --generate-hashes") + \
            out.read_text(encoding="utf-8")
        if out_path is not None:
            return locks.write_to(Path(out_path), text)
        return locks.save_local(automux_home(), r.name, r.key, text)


def _pinned_versions(text: str) -> Dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines of a lock or freeze."""
    out: Dict[str, str] = {}
    for line in locks.pinned_lines(text):
        name, sep, version = line.split(" ", 1)[0].partition("==")
        if sep:
            out[name.strip().lower().replace("_", "-")] = version.strip()
    return out


def numpy1_bound(pins: Dict[str, str]) -> Optional[str]:
    """:data:`NUMPY1_PYARROW` when ``pins`` hold NumPy 1.x with a pyarrow that refuses it, else None."""
    numpy, arrow = pins.get("numpy"), pins.get("pyarrow")
    if not numpy or not arrow:
        return None
    try:
        old_numpy = parse_version(numpy) < parse_version("2")
        too_new = parse_version(arrow) >= parse_version(NUMPY1_PYARROW.split("<", 1)[1])
    except Exception:
        return None
    return NUMPY1_PYARROW if old_numpy and too_new else None


def resolve_lock(recipe: Recipe, *, allow_download: bool = True, echo: Optional[Echo] = None,
                 out: Optional[Path] = None) -> "locks.Lock":
    """Resolve ``recipe`` into a new lock now (no env is built); needs uv.

    Saved as the local lock (``$AUTOMUX_HOME/locks``, which then wins over a
    packaged one), or, with ``out``, written to ``out`` only: ``automux env lock
    NAME --out automux/envlocks/NAME.txt`` refreshes a committed first-party lock
    without leaving a local one behind.

    Raises:
        EnvError: uv is not available; InterpreterNotFound / EnvBuildError as for a build.
    """
    echo = echo or stderr_echo(recipe.name)
    uv = find_uv()
    if not uv:
        raise EnvError("resolving a lock needs uv (pip install uv): without it a build locks what it installed")
    if out is not None:  # checked before the resolve: a directory or a missing folder is one line, not a traceback
        from ..inputs import check_out_path
        check_out_path(out)
    make_dir(logs_dir())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    log_path = logs_dir() / f"{recipe.name}-{recipe.key[:16]}-{stamp}-lock-{uuid.uuid4().hex[:6]}.log"
    b = _Build(recipe, envs_dir() / ".unused", log_path, echo, allow_download, None)
    b.scratch = tempfile.mkdtemp(prefix="automux-lock-")
    try:
        interp = find_interpreter(recipe.python, env_name=recipe.name, allow_download=allow_download,
                                  log=lambda m: (b._log(m), echo(m)))
        return b._resolve(uv, interp, out)
    finally:
        shutil.rmtree(b.scratch, ignore_errors=True)


def build_env(recipe: Recipe, *, force: bool = False, upgrade: bool = False, allow_download: bool = True,
              echo: Optional[Echo] = None) -> BuiltEnv:
    """Build ``recipe``'s env from its lock unless a complete one exists.

    ``force`` rebuilds from the same lock; ``upgrade`` re-resolves the lock first
    (a new local lock, so possibly a new fingerprint) and builds from it.

    Raises:
        InterpreterNotFound: no interpreter satisfies the recipe's Python range.
        EnvBuildError: a step failed; the message names it and the log's path.
            Nothing of the attempt but the log (and a resolved lock) is left behind.
    """
    echo = echo or stderr_echo(recipe.name)
    root = make_dir(envs_dir())
    make_dir(logs_dir())
    with _file_lock(root / f".{recipe.name}.lock"):
        lock = None if upgrade else recipe.lock()
        if lock is not None and not force:
            found = _load(root / recipe.dir_name_for(lock))
            if found is not None:
                return found
        for stale in root.glob(f".tmp-{recipe.name}-*"):  # a killed build's leftovers
            shutil.rmtree(stale, ignore_errors=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        log_path = logs_dir() / f"{recipe.name}-{recipe.key[:16]}-{stamp}-{uuid.uuid4().hex[:6]}.log"
        tmp = root / f".tmp-{recipe.name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        where = f"lock {lock.short} ({lock.source})" if lock is not None else "a lock resolved now"
        echo(f"building env {recipe.name} ({recipe.describe()}) from {where} under {root}")
        t0 = time.monotonic()
        try:
            build = _Build(recipe, tmp, log_path, echo, allow_download, lock)
            meta = build.run()
            assert build.lock is not None
            final = root / recipe.dir_name_for(build.lock)
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        echo(f"built in {time.monotonic() - t0:.1f}s: {len(meta['packages'])} packages, "
             f"fingerprint (lock hash) {meta['fingerprint']}")
        return BuiltEnv(final, meta)


def remove_env(name: str) -> List[str]:
    """Delete every cached env called ``name`` (any recipe or automux version); returns the paths."""
    root = envs_dir()
    removed: List[str] = []
    if not root.is_dir():
        return removed
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        env = _load(path)
        meta_name = env.name if env is not None else None
        if meta_name is None:  # a directory without metadata: match on the name part
            if not path.name.startswith(f"{name}-") or len(path.name) != len(name) + 17:
                continue
        elif meta_name != name:
            continue
        with _file_lock(root / f".{name}.lock"):
            shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    for tmp in root.glob(f".tmp-{name}-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    return removed


# --------------------------------------------------------------------------- using an env


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


def parent_identity() -> Dict[str, Any]:
    """The parent's side of the handshake: its automux version and source hash."""
    from .handshake import package_dir, source_fingerprint

    return {"automux_version": __version__, "source_sha256": source_fingerprint(), "package_dir": str(package_dir())}


def check_identity(parent: Dict[str, Any], worker: Dict[str, Any], env_name: str) -> None:
    """Compare both sides of a handshake.

    Raises:
        HandshakeError: another automux version or source, or a module that does not import.
    """
    if worker.get("automux_version") != parent["automux_version"]:
        raise HandshakeError(f"env {env_name!r} runs automux {worker.get('automux_version')} from "
                             f"{worker.get('package_dir')}, the parent runs {parent['automux_version']}: "
                             f"rebuild it with `automux env build {env_name} --force`")
    if worker.get("source_sha256") != parent["source_sha256"]:
        raise HandshakeError(f"env {env_name!r} imports different automux code ({worker.get('package_dir')}, "
                             f"source {str(worker.get('source_sha256'))[:12]}) than the parent "
                             f"({parent['package_dir']}, source {parent['source_sha256'][:12]}): check PYTHONPATH "
                             f"and that no other automux is installed in {worker.get('prefix')}")
    for top, want in (parent.get("plugins") or {}).items():
        got = (worker.get("sources") or {}).get(top)
        if got != want:
            raise HandshakeError(f"env {env_name!r} imports other code for plugin package {top!r} "
                                 f"(source {str(got)[:12]}) than the parent (source {want[:12]}): the worker must "
                                 f"import the parent's copy through PYTHONPATH; is another {top} installed there?")
    bad = {m: err for m, err in (worker.get("imports") or {}).items() if err != "ok"}
    if bad:
        mod, err = next(iter(bad.items()))
        raise HandshakeError(f"automux's {mod} does not import in env {env_name!r} "
                             f"(Python {worker.get('python')}): {err}")


_handshakes: Dict[Tuple[Any, ...], Dict[str, Any]] = {}


def handshake(env: BuiltEnv, modules: Sequence[str] = (), extra: Optional[Dict[str, str]] = None,
              plugin: Optional[Dict[str, Path]] = None) -> Dict[str, Any]:
    """Run ``automux.core.env.handshake`` in ``env`` the way a worker runs, and check it.

    Returns the worker's identity. Raises ``HandshakeError`` on any difference.
    ``plugin`` ({import name: path}, :func:`plugin_packages`) is a third-party
    adapter's own package: it goes on the worker's path, and the worker must
    import exactly the parent's files of it (same source hash).
    With the default variables (``extra`` None: the worker imports the parent's
    own package through :func:`code_dir`), a success is remembered for this
    process while the parent's source hash, the env and the variables stay the
    same (a complete env never changes).
    """
    from .handshake import source_fingerprint

    env_vars = dict(os.environ)
    env_vars.pop("PYTHONHOME", None)
    env_vars.update(extra if extra is not None else worker_vars(env, plugin))
    for _attempt in range(3):
        parent = parent_identity()
        parent["plugins"] = {top.split(".")[0]: source_fingerprint(path) for top, path in (plugin or {}).items()}
        memo = (str(env.path), env.key, env.fingerprint, parent["source_sha256"], tuple(modules),
                tuple(sorted(env_vars.items())))
        if extra is None and memo in _handshakes:
            return _handshakes[memo]
        worker = _ask_worker(env, modules, env_vars)
        if parent_identity()["source_sha256"] == parent["source_sha256"]:
            break
        # automux's files changed on disk while the worker read them: ask again
    check_identity(parent, worker, env.name)
    if extra is None:
        _handshakes[memo] = worker
    return worker


def _ask_worker(env: BuiltEnv, modules: Sequence[str], env_vars: Dict[str, str]) -> Dict[str, Any]:
    cwd = Path(env_vars["PYTHONPATH"].split(os.pathsep)[0])
    try:
        proc = subprocess.run([str(env.python), "-m", "automux.core.env.handshake", *modules],
                              capture_output=True,
                              text=True, timeout=HANDSHAKE_TIMEOUT_S, env=env_vars, cwd=str(cwd),
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        raise HandshakeError(f"cannot start the interpreter of env {env.name!r} ({env.python}): {e}") from e
    try:
        worker = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise HandshakeError(f"automux does not start in env {env.name!r} ({env.python}): {last}") from None
    return worker


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


def env_table(adapters: Dict[str, Any]) -> List[Dict[str, Any]]:
    """``env list``: every isolated recipe the adapters declare (built or not), then stale cached envs."""
    recipes: Dict[str, Recipe] = {}
    users: Dict[str, List[str]] = {}
    for name, adapter in adapters.items():
        environment = adapter.environment
        if environment.name == MAIN:
            continue
        recipes.setdefault(environment.name, recipe_for(environment))
        users.setdefault(environment.name, []).append(name)
    rows: List[Dict[str, Any]] = []
    current_keys = set()
    for env_name, recipe in sorted(recipes.items()):
        lock = recipe.lock()
        found = find_built(recipe)
        current_keys.add(found.path.name if found else "")
        row: Dict[str, Any] = {"name": env_name, "backends": users[env_name], "status": "built" if found else
                               "missing", "current": True, "python_range": recipe.python,
                               "requirements": list(recipe.requirements), "key": recipe.key,
                               "fingerprint": found.fingerprint if found else None,
                               "lock": lock.short if lock else None, "lock_sha256": lock.sha256 if lock else None,
                               "lock_source": lock.source if lock else None,
                               "lock_path": str(lock.path) if lock else None,
                               "packaged_lock": locks.packaged_lock_state(recipe.name, recipe.key),
                               "path": str(found.path) if found else None}
        if found:
            row.update({k: found.meta.get(k) for k in ("python_version", "builder", "built_utc", "build_s",
                                                        "automux_version", "interpreter")})
            row["n_packages"] = len(found.meta.get("packages", {}))
        rows.append(row)
    for env in built_envs():
        if env.path.name in current_keys:
            continue
        rows.append({"name": env.name, "backends": users.get(env.name, []), "status": "stale", "current": False,
                     "python_range": env.meta.get("python"), "requirements": env.meta.get("requirements"),
                     "key": env.key, "fingerprint": env.fingerprint, "lock_sha256": env.meta.get("lock_sha256"),
                     "lock": env.fingerprint, "path": str(env.path),
                     "python_version": env.meta.get("python_version"), "builder": env.meta.get("builder"),
                     "built_utc": env.meta.get("built_utc"), "build_s": env.meta.get("build_s"),
                     "automux_version": env.meta.get("automux_version"), "interpreter": env.meta.get("interpreter"),
                     "n_packages": len(env.meta.get("packages", {}))})
    return rows
