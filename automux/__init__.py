"""automux: many AutoML backends behind one API and one reproducibility contract.

Importing automux imports nothing but this file and the version: every public
name below is imported on first attribute access (PEP 562), so that the
worker (``python -m automux.core.run.worker``) never loads the API, the store or
sqlite3, and no backend library or plugin is loaded until it is used.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

#: public name -> the module that defines it
_WHERE = {
    **{name: "automux.api" for name in ("run", "compare", "verify", "check", "promote", "predict", "backends",
                                         "experiment", "runs", "load_run", "plugin_failures", "ensemble",
                                         "runs_leaderboard", "delete_runs", "prune_runs")},
    "Adapter": "automux.core.adapter", "SearchResult": "automux.core.adapter", "SearchTask": "automux.core.adapter",
    "Budget": "automux.core.experiment.budget",
    "Capabilities": "automux.core.capabilities", "Environment": "automux.core.capabilities",
    "Dataset": "automux.core.experiment.data", "load_data": "automux.core.experiment.data",
    **{name: "automux.core.errors" for name in ("AutomuxError", "BackendNotFound", "BackendUnavailable", "DataError",
                                                 "SpecError", "UnsupportedData", "UnsupportedTask", "UserError")},
    "hookimpl": "automux.core.hookspecs",
    "RunRecord": "automux.core.experiment.record",
    "Candidate": "automux.core.experiment.spec", "Spec": "automux.core.experiment.spec",
    "RunStore": "automux.core.run.store",
    "importance": "automux.governance.importance",
    **{name: "automux.predictor" for name in ("Predictor", "fit", "load", "PredictionFailed")},
}

__all__ = ["__version__", *_WHERE]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'automux' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
