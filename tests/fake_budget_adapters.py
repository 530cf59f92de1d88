"""Fakes for the in-trial budget tests (tests/test_budget_in_trial.py): each candidate's fold "fit" sleeps.

Named as fakes: they test the core (``SearchTask.cross_validate(stop_at_deadline=True)``, the worker and the
launcher's mapping of ``BudgetExhausted`` to ``timeout``), not a backend.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from automux.core.adapter import SearchResult, SearchTask, TrialOutOfTime

from fake_adapters import FakeMeanAdapter


class FakeSlowTrialsAdapter(FakeMeanAdapter):
    """Candidate ``i``'s folds each sleep ``first_fold_s`` (i == 0) or ``fold_s`` (i > 0), then predict the prior."""

    name = "fake-slow-trials"
    accepted_options = ("first_fold_s", "fold_s")

    def search(self, task: SearchTask) -> SearchResult:
        while task.trials_left() > 0:
            i = len(task.candidates)
            wait = float(task.options.get("first_fold_s" if i == 0 else "fold_s", 0.0))

            def fit_predict(Xf: Any, yf: np.ndarray, Xv: Any) -> np.ndarray:
                time.sleep(wait)
                return self._fit(task, yf).predict(Xv)

            t0 = time.monotonic()
            try:
                scores = task.cross_validate(fit_predict, stop_at_deadline=True)
            except TrialOutOfTime as e:
                task.log(f"candidate {i} cut: {e}")
                break
            task.add_candidate("fake-slow", {"i": i}, scores, fit_time_s=time.monotonic() - t0)
        chosen = task.choose()
        return SearchResult(model=self._fit(task, task.y), chosen=chosen)
