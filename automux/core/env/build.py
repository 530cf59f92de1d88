"""Building an isolated env from its recipe's lock (and resolving that lock).

Built with uv when present and venv + pip otherwise under ``$AUTOMUX_HOME/envs``
(:mod:`automux.core.env.home`); the recipe is :mod:`automux.core.env.recipe`, the
cache of built envs :mod:`automux.core.env.cache`.

Invariants:

* every env is installed from a lock (:mod:`automux.core.env.lock`): the
  committed one of a first-party recipe, else one resolved here once and kept
  under ``$AUTOMUX_HOME/locks``; ``upgrade`` re-resolves on purpose. The env's
  directory is ``NAME-LOCKHASH16`` and its fingerprint (every record's
  ``env.automux_env.fingerprint``) is ``LOCKHASH16``. ``installed_fingerprint``
  is sha256 over what was actually installed (the formula of
  :func:`automux.core.env.envinfo.describe_env`);
* a build happens in a temp directory under a per-env-name file lock; the
  installed package list, ``automux-env.json`` and the ``complete`` marker are
  written last, then the directory is renamed into place. A directory without
  the marker is never used, and a failed build leaves none behind: only its log
  under ``$AUTOMUX_HOME/logs``, whose path the error message gives;
* neither automux nor a plugin is installed into an env: the worker gets them
  through ``PYTHONPATH`` (:mod:`automux.core.env.worker_code`), checked by the
  handshake (:mod:`automux.core.env.handshake_check`) before any job. A plugin
  lists its backend's own dependencies in ``Environment.requirements``.
"""
from __future__ import annotations

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..._version import __version__
from . import lock as locks
from .cache import LOCK, MARKER, META, BuiltEnv, file_lock, load_built
from .errors import EnvBuildError, EnvError, InterpreterNotFound
from .home import automux_home, env_python, envs_dir, logs_dir, make_dir
from .interpreters import find_interpreter, find_uv, parse_version, version_in
from .recipe import Recipe

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


def fingerprint_of(lock: Dict[str, Any]) -> str:
    """The env fingerprint: the same formula as ``describe_env`` (Python, machine, every package)."""
    body = json.dumps({"python": lock["python"], "machine": lock["machine"], "packages": lock["packages"]},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


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
        interp = self._find_interpreter()
        uv = find_uv()
        builder = "uv" if uv else "venv+pip"
        self.echo(f"building with {builder}: Python {interp.version_text} ({interp.path}, from {interp.source})")
        self.echo(f"log: {self.log_path}")
        py = env_python(self.tmp)
        self._create_venv(uv, interp)
        if self.lock is None and uv:
            self.lock = self._resolve(uv, interp)
        if self.lock is not None:
            self._install_lock(uv, py)
        else:
            self._install_and_freeze(py)
        self._check_imports(py)
        return self._write_meta(py, interp, builder)

    def _find_interpreter(self) -> Any:
        """An interpreter in the recipe's Python range (found, or downloaded when allowed)."""
        self.step = "finding a Python interpreter"
        try:
            return find_interpreter(self.recipe.python, env_name=self.recipe.name, allow_download=self.allow_download,
                                    log=lambda m: (self._log(m), self.echo(m)))
        except InterpreterNotFound as e:
            self._log(str(e))
            raise

    def _create_venv(self, uv: Optional[str], interp: Any) -> None:
        if uv:
            self._run("creating the venv", [uv, "venv", "--relocatable", "--no-project", "--no-config", "-q",
                                            "--python", interp.path, self.tmp])
        else:
            self._run("creating the venv", [interp.path, "-m", "venv", self.tmp])

    def _install_lock(self, uv: Optional[str], py: Path) -> None:
        """Install exactly the lock's pins (uv syncs; pip installs them without dependencies)."""
        assert self.lock is not None
        self.echo(f"installing {len(self.lock.pins())} locked packages from {self.lock.path} "
                  f"(lock {self.lock.short}, {self.lock.source})")
        if uv:
            self._run("installing the lock", [uv, "pip", "sync", "--no-config", "--python", py,
                                              self.lock.path], show=True)
        else:
            self._run("installing the lock", [py, "-m", "pip", "install", "--disable-pip-version-check",
                                              "--no-input", "--no-deps", "-r", self.lock.path], show=True)

    def _install_and_freeze(self, py: Path) -> None:
        """venv + pip and nothing locked yet: install the recipe (what is installed becomes the lock)."""
        r = self.recipe
        self.echo(f"installing {len(r.requirements)} pinned requirements + automux's core dependencies "
                  "(no lock yet: the installed versions become it)")
        self._run("installing requirements", [py, "-m", "pip", "install", "--disable-pip-version-check",
                                              "--no-input"] + list(r.requirements) + list(r.core), show=True)
        frozen = self._run("listing what pip installed", [py, "-m", "pip", "freeze", "--disable-pip-version-check"])
        bound = numpy1_bound(_pinned_versions(frozen))
        if bound:
            self._run("bounding pyarrow for NumPy 1", [py, "-m", "pip", "install", "--disable-pip-version-check",
                                                      "--no-input"] + list(r.requirements) + [bound], show=True)

    def _check_imports(self, py: Path) -> None:
        """automux's core imports and the recipe's ``import_names``, each on its own."""
        r = self.recipe
        core_modules = list(CORE_IMPORTS) if r.core else []
        modules = core_modules + [m for m in r.import_names if m not in core_modules]
        if modules:
            self.echo(f"checking that {', '.join(modules)} import")
            self._run("checking imports", [py, "-c", _IMPORT_CHECK.format(modules=modules)])

    def _write_meta(self, py: Path, interp: Any, builder: str) -> Dict[str, Any]:
        """List what was installed, keep the lock (a new local one under pip), write the metadata, then the marker."""
        r = self.recipe
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
    with file_lock(root / f".{recipe.name}.lock"):
        lock = None if upgrade else recipe.lock()
        if lock is not None and not force:
            found = load_built(root / recipe.dir_name_for(lock))
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
