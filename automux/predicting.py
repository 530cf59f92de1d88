"""Where every prediction from a stored run goes: the one dispatch keyed on the run's record.

A run whose record names the ``ensemble`` backend predicts through its members
(:func:`automux.governance.ensemble.predict_ensemble`); every other run through
the normal predict path (:func:`automux.core.run.predict.predict`: its model in the
env that trained it). The API's ``predict``, ``automux predict`` and
:class:`~automux.predictor.Predictor` all call :func:`predict`. It sits above both
so that core never imports governance and governance is not the road every
prediction takes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

from .core.run.predict import predict as predict_run
from .core.run.store import RunStore
from .governance.ensemble import ENSEMBLE_BACKEND, predict_ensemble


def predict(run_id: str, data: Any, *, store: Union[str, RunStore, None] = None, build: bool = True,
            out: Optional[Union[str, Path]] = None, timeout_s: Optional[float] = None) -> Dict[str, Any]:
    """Predictions of run ``run_id`` on ``data``: through its members for an ensemble, else its own model."""
    the_store = store if isinstance(store, RunStore) else RunStore(store)
    if the_store.load(run_id).backend == ENSEMBLE_BACKEND:
        return predict_ensemble(run_id, data, store=the_store, build=build, out=out, timeout_s=timeout_s)
    return predict_run(run_id, data, store=the_store, build=build, out=out, timeout_s=timeout_s)
