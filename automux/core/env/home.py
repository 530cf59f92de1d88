"""Where automux keeps its envs, locks, logs and code links: ``$AUTOMUX_HOME`` (default ``~/.cache/automux``)."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import EnvError

HOME_ENV = "AUTOMUX_HOME"


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
