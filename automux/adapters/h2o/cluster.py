"""The H2O cluster automux talks to: a private JVM on 127.0.0.1 it starts and ends, or one given by ``url``.

See the package docstring for the lifecycle rules (free port pair, 127.0.0.1
only, flatfile, cloud-name and pid check, ``PR_SET_PDEATHSIG``, shutdown on
failure / SIGTERM / exit). At most one connection per process: h2o-py is global.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Optional

from ...core.errors import BackendUnavailable
from .plan import parse_options

JAVA_HINT = ("H2O needs a Java runtime (Java 17 recommended) on PATH or in JAVA_HOME: "
             "install it with e.g. 'apt-get install openjdk-17-jre-headless'")
#: File (in the search's workdir) listing the pids of processes this adapter started, one per line.
CHILD_PIDS = "child_pids"
START_TIMEOUT_S = 90.0
#: Seconds a run waits for the warm JVM it was lent to answer before it starts its own.
CONNECT_WARM_S = 15.0


class JavaMissing(BackendUnavailable):
    """No Java runtime was found, so no local H2O cluster can start."""


def find_java() -> Optional[str]:
    """The java executable H2O would use (``$JAVA_HOME/bin/java``, then PATH), or None."""
    home = os.environ.get("JAVA_HOME")
    if home:
        cand = os.path.join(home, "bin", "java")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return shutil.which("java")


def find_jar() -> str:
    """The ``h2o.jar`` inside the installed h2o package (``$H2O_JAR_PATH`` first), without importing h2o."""
    import importlib.util

    own = os.environ.get("H2O_JAR_PATH")
    if own and os.path.isfile(own):
        return own
    spec = importlib.util.find_spec("h2o")
    for root in (spec.submodule_search_locations or []) if spec else []:
        jar = os.path.join(root, "backend", "bin", "h2o.jar")
        if os.path.isfile(jar):
            return jar
    raise BackendUnavailable("h2o.jar was not found in the installed h2o package: reinstall it "
                             "(pip install 'automux[h2o]')")


# --------------------------------------------------------------------------------------------
# The local JVM
# --------------------------------------------------------------------------------------------

def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(tries: int = 200) -> int:
    """A port ``P`` with ``P`` and ``P + 1`` both free on 127.0.0.1 (H2O uses both)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("no free pair of adjacent ports on 127.0.0.1")


def _preexec_die_with_parent(any_thread: bool = False) -> Any:
    """A ``preexec_fn`` giving the child SIGKILL when this thread dies (Linux), or None.

    Off the main thread only with ``any_thread`` (the thread then must outlive the child's use: a
    compare's or bench's executor thread lives as long as the compare or bench, see ``start_warm``).
    """
    if not sys.platform.startswith("linux") or \
            (not any_thread and threading.current_thread() is not threading.main_thread()):
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


def cloud_is(port: int, name: str, pid: int) -> Optional[bool]:
    """Whether the H2O server on 127.0.0.1:``port`` is the healthy one-node cloud ``name`` run by ``pid``:
    True, False (another server), or None (no answer yet)."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/3/Cloud?skip_ticks=true", timeout=2) as r:
            cloud = json.loads(r.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if cloud.get("cloud_name") != name:
        return False
    if cloud.get("cloud_healthy") and [n.get("pid") for n in cloud.get("nodes", [])] == [pid]:
        return True
    return None


class LocalH2O:
    """One ``h2o.jar`` JVM started by automux on 127.0.0.1; see the module docstring."""

    def __init__(self, root: Path, max_mem_size: str = "1G", nthreads: int = 1,
                 cancel_file: Optional[Path] = None) -> None:
        parse_options({"max_mem_size": max_mem_size, "nthreads": nthreads})
        self.root = Path(root)
        #: A start in progress gives up (JVM stopped, RuntimeError) once this file exists (a warm pool's).
        self.cancel_file = cancel_file
        self.max_mem_size = max_mem_size
        self.nthreads = int(nthreads)
        self.name = f"automux_{uuid.uuid4().hex[:12]}"
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> Optional[int]:
        return None if self.proc is None else self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def describe(self) -> Dict[str, Any]:
        """Who this JVM is (for a warm runtime's lease): kind, port, cloud name, heap, threads."""
        return {"kind": "h2o", "port": self.port, "name": self.name, "max_mem_size": self.max_mem_size,
                "nthreads": self.nthreads}

    def start(self, own_session: bool = False, import_h2o: bool = True) -> None:
        """Start the JVM and wait until it answers as this cloud; up to three ports are tried.

        ``own_session``: in a session (process group) of its own, dying with the starting thread
        (a warm runtime the parent of a compare / bench keeps); by default it stays in the caller's
        group. ``import_h2o``: import h2o while the JVM starts (the worker's overlap; not in a parent).
        """
        java = find_java()
        if java is None:
            raise JavaMissing(f"cannot start a local H2O cluster: Java was not found. {JAVA_HINT}")
        jar = find_jar()
        h2o_dir = self.root / "h2o"
        (h2o_dir / "ice").mkdir(parents=True, exist_ok=True)
        (h2o_dir / "logs").mkdir(exist_ok=True)
        (h2o_dir / "tmp").mkdir(exist_ok=True)
        last_error = ""
        for _attempt in range(3):
            self._check_cancelled()
            port = free_port_pair()
            flatfile = h2o_dir / "flatfile"
            flatfile.write_text(f"127.0.0.1:{port}\n", encoding="utf-8")
            # java.io.tmpdir: the extracted XGBoost library; no perf data file in /tmp either.
            cmd = [java, f"-Xmx{self.max_mem_size}", "-XX:-UsePerfData", f"-Djava.io.tmpdir={h2o_dir / 'tmp'}",
                   "-Dsys.ai.h2o.telemetry.disabled=true", "-jar", jar,
                   "-ip", "127.0.0.1", "-web_ip", "127.0.0.1", "-port", str(port), "-flatfile", str(flatfile),
                   "-ice_root", str(h2o_dir / "ice"), "-log_dir", str(h2o_dir / "logs"), "-name", self.name,
                   "-nthreads", str(self.nthreads), "-log_level", "WARN", "-allow_unsupported_java"]
            env = dict(os.environ, DO_NOT_TRACK="1")
            with open(h2o_dir / "jvm.out", "ab") as out:
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             cwd=str(h2o_dir), env=env, start_new_session=own_session,
                                             preexec_fn=_preexec_die_with_parent(any_thread=own_session))
            with open(self.root / CHILD_PIDS, "a", encoding="utf-8") as f:
                f.write(f"{self.proc.pid}\n")
            if import_h2o:
                import h2o  # noqa: F401 - seconds of import, overlapped with the JVM's start
            if self._wait_ready(port):
                self.port = port
                return
            last_error = (h2o_dir / "jvm.out").read_text(encoding="utf-8", errors="replace")[-2000:]
            self.stop()
            self._check_cancelled()
        raise RuntimeError(f"the H2O JVM did not start on 127.0.0.1: {last_error}")

    def _cancelled(self) -> bool:
        return self.cancel_file is not None and self.cancel_file.exists()

    def _check_cancelled(self) -> None:
        if self._cancelled():
            self.stop()
            raise RuntimeError("the H2O JVM's start was cancelled (its warm pool no longer wants it)")

    def _wait_ready(self, port: int) -> bool:
        """True once the server on ``port`` answers with this cloud's name and pid."""
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None or self._cancelled():
                return False
            answer = cloud_is(port, self.name, self.proc.pid)
            if answer is not None:
                return answer  # False: someone else's server took the port first
            time.sleep(0.25)
        return False

    def stop(self, wait_s: float = 3.0) -> None:
        """Terminate the JVM (SIGKILL after ``wait_s``); idempotent and safe in a signal handler."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.terminate()
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# The process-wide session: at most one cluster connection per process (h2o-py is global)
# --------------------------------------------------------------------------------------------

class _Session:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.local: Optional[LocalH2O] = None
        self.url: Optional[str] = None
        self.tempdir: Optional[str] = None
        self.warm: Optional[Dict[str, Any]] = None  # the parent's warm JVM this process is lent (never stopped here)
        self.generation = 0  # bumped per connection: a model handle knows which cluster holds it


_SESSION = _Session()
_PREV_SIGTERM: Any = None


def _on_sigterm(signum: int, frame: Any) -> None:
    local = _SESSION.local
    if local is not None:
        local.stop(wait_s=1.5)
    signal.signal(signal.SIGTERM, _PREV_SIGTERM if _PREV_SIGTERM is not None else signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm_handler() -> None:
    """Kill the JVM on SIGTERM, then die of SIGTERM as before (main thread, default handler only)."""
    global _PREV_SIGTERM
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm or current not in (signal.SIG_DFL, None):
        return
    _PREV_SIGTERM = current
    signal.signal(signal.SIGTERM, _on_sigterm)


def _restore_sigterm_handler() -> None:
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, _PREV_SIGTERM if _PREV_SIGTERM is not None else signal.SIG_DFL)


def _connect(**kwargs: Any) -> None:
    import h2o
    h2o.no_progress()
    h2o.connect(verbose=False, telemetry=False, strict_version_check=True, **kwargs)
    _SESSION.generation += 1


def _connected() -> bool:
    import h2o
    try:
        conn = h2o.connection()
        return conn is not None and conn.connected and h2o.cluster().is_running()
    except Exception:  # h2o raises its own types when no connection exists
        return False


def start_cluster(options: Dict[str, Any], workdir: Optional[Path]) -> None:
    """Connect to a fresh private cluster under ``workdir`` (or to ``options['url']``).

    Any local cluster this process started before is shut down first.

    Raises:
        JavaMissing: no ``url`` and no Java runtime found.
        SpecError: bad options (see :func:`parse_options`).
    """
    opts = parse_options(options)
    with _SESSION.lock:
        shutdown()
        if opts["url"]:
            _connect(url=opts["url"])
            _SESSION.url = opts["url"]
            return
        if workdir is None:
            _SESSION.tempdir = tempfile.mkdtemp(prefix="automux-h2o-")
            workdir = Path(_SESSION.tempdir)
        local = LocalH2O(workdir, max_mem_size=opts["max_mem_size"], nthreads=opts["nthreads"])
        _SESSION.local = local
        _install_sigterm_handler()
        try:
            local.start()
            _connect(ip="127.0.0.1", port=local.port)
        except BaseException:
            shutdown()
            raise


def connect_warm(lent: Dict[str, Any]) -> None:
    """Connect to the warm JVM a compare / bench lent this run (``SearchTask.warm``) and empty it.

    The cloud's name and pid are checked first, so no other server is ever used; every H2O object
    is removed before the run (and again by :func:`shutdown` after it, which never stops this JVM).

    Raises:
        RuntimeError: the lent JVM does not answer as itself.
    """
    with _SESSION.lock:
        shutdown()
        port, name, pid = int(lent["port"]), str(lent["name"]), int(lent["pid"])
        answer, end = cloud_is(port, name, pid), time.monotonic() + CONNECT_WARM_S
        while answer is None and time.monotonic() < end:  # busy (a loaded machine, a GC): ask again
            time.sleep(0.25)
            answer = cloud_is(port, name, pid)
        if answer is not True:
            raise RuntimeError(f"the warm H2O JVM lent to this run (pid {pid}, 127.0.0.1:{port}) does not answer")
        _connect(ip="127.0.0.1", port=port)
        _SESSION.url, _SESSION.warm = f"http://127.0.0.1:{port}", dict(lent)
        import h2o
        h2o.remove_all()


def ensure_cluster(options: Optional[Dict[str, Any]] = None) -> None:
    """Reuse the current cluster connection, or start a private one in a temp dir."""
    with _SESSION.lock:
        if (_SESSION.local is not None and _SESSION.local.running()) or _SESSION.url:
            if _connected():
                return
        start_cluster(options or {}, None)


def shutdown() -> None:
    """Close the connection; stop the JVM automux started (never a cluster given by ``url``)."""
    with _SESSION.lock:
        if _SESSION.local is not None or _SESSION.url:
            try:
                import h2o
                conn = h2o.connection()
                if conn is not None and conn.connected:
                    if _SESSION.warm is not None:
                        h2o.remove_all()  # a warm JVM serves the next run empty
                    conn.close()
            except Exception:  # closing is best effort: the JVM is stopped below anyway
                pass
        if _SESSION.local is not None:
            _SESSION.local.stop()
            _SESSION.local = None
            _restore_sigterm_handler()
        _SESSION.url = _SESSION.warm = None
        if _SESSION.tempdir:
            shutil.rmtree(_SESSION.tempdir, ignore_errors=True)
            _SESSION.tempdir = None


atexit.register(shutdown)
