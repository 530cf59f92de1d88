"""automux: many AutoML backends behind one API and one reproducibility contract.

Importing automux imports no backend library and loads no plugin; plugins load
on first use (``backends()``, ``run()``, ...).
"""
from ._version import __version__
from .api import (backends, check, compare, experiment, load_run, plugin_failures, predict, promote, run, runs, verify)
from .core.adapter import Adapter, SearchResult, SearchTask
from .core.contract.budget import Budget
from .core.capabilities import Capabilities, Environment
from .core.contract.data import Dataset, load_data
from .core.errors import (AutomuxError, BackendNotFound, BackendUnavailable, DataError, SpecError, UnsupportedData, UnsupportedTask, UserError)
from .core.hookspecs import hookimpl
from .core.contract.record import RunRecord
from .core.contract.spec import Candidate, Spec
from .core.run.store import RunStore

__all__ = [
    "__version__", "run", "compare", "verify", "check", "promote", "predict", "backends", "experiment", "runs", "load_run",
    "plugin_failures", "load_data", "Adapter", "SearchTask", "SearchResult", "Budget", "Capabilities",
    "Environment", "Dataset", "Candidate", "Spec", "RunRecord", "RunStore", "hookimpl",
    "AutomuxError", "UserError", "DataError", "SpecError", "BackendNotFound", "BackendUnavailable",
    "UnsupportedTask", "UnsupportedData",
]
