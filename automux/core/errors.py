"""The exception tree: one root, specific subclasses that also subclass a built-in.

User errors (bad data, bad options, unknown backend) are ``UserError``s: the CLI
prints their message on one line and exits 2. Everything else is a bug or a
backend failure and is recorded, not hidden.
"""
from __future__ import annotations


class AutomuxError(Exception):
    """Root of every error automux raises on purpose."""


class UserError(AutomuxError):
    """Something the user gave is wrong; the message says what and what to do."""


class DataError(UserError, ValueError):
    """The data cannot be used as given (missing file, bad target, NaN, ...)."""


class SpecError(UserError, ValueError):
    """An experiment setting is invalid (budget, metric, folds, seed, ...)."""


class BackendNotFound(UserError, LookupError):
    """No adapter is registered under the requested name."""


class BackendUnavailable(UserError, RuntimeError):
    """The adapter is registered but cannot run here (its backend is not installed)."""


class UnsupportedTask(AutomuxError, NotImplementedError):
    """The adapter does not support the task (binary / multiclass / regression)."""


class UnsupportedData(AutomuxError, TypeError):
    """The adapter cannot take this data (categorical or missing values undeclared)."""


class RunNotFound(UserError, LookupError):
    """No run with that id is in the store."""


class StoreError(UserError, OSError):
    """The run store cannot be used as asked: a bad run id, a corrupt record, a store that cannot be written."""


class ArtifactTampered(UserError, ValueError):
    """A stored artifact (a model file) no longer matches the sha256 its run record holds."""


class MissingExtra(UserError, ImportError):
    """An optional dependency is missing: the message names what to install (see ``automux.core.imports``)."""


class BudgetExhausted(AutomuxError, TimeoutError):
    """The seconds budget ended before any candidate finished: nothing to choose, no model to refit.

    The message says so and how long the first candidate had run; the run ends ``timeout``."""
