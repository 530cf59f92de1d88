"""Errors about isolated backend environments: all user errors (the CLI exits 2, one line)."""
from __future__ import annotations

from ..errors import UserError


class EnvError(UserError, RuntimeError):
    """An isolated environment cannot be found, built or trusted; the message says what to do."""


class InterpreterNotFound(EnvError, LookupError):
    """No Python interpreter satisfies an environment's version range."""


class EnvBuildError(EnvError):
    """Building an environment failed; the message names the step and the build log's path."""


class EnvNotBuilt(EnvError, LookupError):
    """The environment is missing and building was refused (``--no-build``) or is impossible."""


class HandshakeError(EnvError):
    """The worker side of an environment does not run the same automux code as the parent."""
