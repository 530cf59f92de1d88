"""Fake adapters for the out-of-fold check (issue 16). Named as fakes on purpose; no AutoML backend.

Each memorises its training rows: a row it saw is predicted as its own label
(one-hot), an unseen row as the class frequencies. So a model that saw a fold
predicts it perfectly, one that did not predicts the prior: any leak shows.

- ``FakeHonestOOFAdapter`` returns OOF predictions from one model per fold, fitted without it;
- ``FakeLeakyOOFAdapter`` returns the refit-on-all model's predictions on the training rows as "OOF";
- ``FakeFoldPeekingOOFAdapter`` predicts each fold with a model fitted on every row, blended with the
  prior, so its "OOF" differs from the in-sample predictions but still saw the fold.
- ``FakeNoSourceAdapter`` gives neither OOF predictions nor a candidate source (OOF unavailable).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automux.core.adapter import Adapter, SearchResult, SearchTask
from automux.core.capabilities import Capabilities


def _row_keys(X: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(X.astype(str), index=False).to_numpy()


class _Memo:
    def __init__(self, X: pd.DataFrame, y: np.ndarray, task: str, n_classes: int) -> None:
        self.task, self.k = task, n_classes
        self.table = dict(zip(_row_keys(X).tolist(), y.tolist()))
        self.prior = (np.bincount(y.astype(int), minlength=n_classes) / len(y)) if task != "regression" \
            else np.array([float(np.mean(y))])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        keys = _row_keys(X).tolist()
        if self.task == "regression":
            return np.array([float(self.table.get(k, self.prior[0])) for k in keys])
        out = np.tile(self.prior, (len(X), 1))
        for i, k in enumerate(keys):
            if k in self.table:
                out[i] = 0.0
                out[i, int(self.table[k])] = 1.0
        return out


class _FakeMemoBase(Adapter):
    capabilities = Capabilities(tasks=("binary", "multiclass"), categorical=True, missing_values=True)

    def _fit(self, task: SearchTask, idx: np.ndarray) -> _Memo:
        return _Memo(task.X.iloc[idx], task.y[idx], task.task, task.n_classes)

    def _honest_oof(self, task: SearchTask) -> np.ndarray:
        oof = np.zeros((len(task.X), task.n_classes))
        for fit_idx, valid_idx in task.folds:
            oof[valid_idx] = self._fit(task, fit_idx).predict(task.X.iloc[valid_idx])
        return oof

    def _oof(self, task: SearchTask, model: _Memo) -> Any:
        raise NotImplementedError

    def search(self, task: SearchTask) -> SearchResult:
        while task.trials_left() > 0 and task.time_left() > 0:
            task.add_candidate("fake-memo", {"i": len(task.candidates)}, task.cross_validate(
                lambda Xf, yf, Xv: _Memo(Xf, yf, task.task, task.n_classes).predict(Xv)))
        model = self._fit(task, np.arange(len(task.X)))
        return SearchResult(model=model, chosen=task.best_index(), oof=self._oof(task, model))

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return model.predict(X)

    def save(self, model: Any, path: Path) -> None:
        (path / "model.pkl").write_bytes(pickle.dumps(model))

    def load(self, path: Path) -> Any:
        return pickle.loads((path / "model.pkl").read_bytes())


class FakeHonestOOFAdapter(_FakeMemoBase):
    name = "fake-honest-oof"

    def _oof(self, task: SearchTask, model: _Memo) -> Any:
        return self._honest_oof(task)


class FakeLeakyOOFAdapter(_FakeMemoBase):
    name = "fake-leaky-oof"

    def _oof(self, task: SearchTask, model: _Memo) -> Any:
        return model.predict(task.X)  # the refit-on-all model on its own training rows: a leak


class FakeFoldPeekingOOFAdapter(_FakeMemoBase):
    name = "fake-peeking-oof"

    def _oof(self, task: SearchTask, model: _Memo) -> Any:
        return 0.9 * model.predict(task.X) + 0.1 * np.tile(model.prior, (len(task.X), 1))


class FakeNoSourceAdapter(_FakeMemoBase):
    name = "fake-no-source"

    def _oof(self, task: SearchTask, model: _Memo) -> Any:
        return None


_DUMMY_SOURCE = '''
from sklearn.dummy import DummyClassifier


def build_model():
    return DummyClassifier(strategy="prior")
'''


class FakeSourceAdapter(_FakeMemoBase):
    """No OOF of its own; a candidate source (a prior DummyClassifier) the worker refits per fold.

    Option ``fit_time_s``: recorded for each candidate (a huge one leaves no time to refit before the hard stop).
    """

    name = "fake-source"
    accepted_options = ("fit_time_s",)

    def search(self, task: SearchTask) -> SearchResult:
        while task.trials_left() > 0:
            task.add_candidate("fake-prior", {"i": len(task.candidates)}, task.cross_validate(
                lambda Xf, yf, Xv: np.tile(np.bincount(yf.astype(int), minlength=task.n_classes) / len(yf),
                                           (len(Xv), 1))),
                fit_time_s=float(task.options.get("fit_time_s", 0.01)))
        return SearchResult(model=self._fit(task, np.arange(len(task.X))), chosen=task.best_index())

    def _oof(self, task: SearchTask, model: _Memo) -> Any:
        return None

    def candidate_source(self, candidate: Any, task: str, columns: Any, seed: int) -> Any:
        if self._broken:
            return "def build_model():\n    raise RuntimeError('this fake source is broken on purpose')\n"
        return _DUMMY_SOURCE

    _broken = False


class FakeBrokenSourceAdapter(FakeSourceAdapter):
    name = "fake-broken-source"
    _broken = True
