"""The parent's side of the handshake (:mod:`automux.core.env.handshake` is the worker's).

Before any job the parent runs ``python -m automux.core.env.handshake`` in the
env the way a worker runs and checks that the worker imports the same automux
version with the same source hash, the same plugin source (sha256 over its
package's ``.py`` files), and that the worker and the adapter module import there.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from ..._version import __version__
from .cache import BuiltEnv
from .errors import HandshakeError
from .worker_code import worker_vars

HANDSHAKE_TIMEOUT_S = 180.0


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
