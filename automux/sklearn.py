"""scikit-learn estimators over every automux backend: ``AutoMuxClassifier`` and ``AutoMuxRegressor``.

``fit(X, y)`` is one :func:`automux.run` under the contract (the same folds,
hold-out, metric, seeds and budget as the CLI; the backend runs in the worker
process, in its isolated env where it has one) on a DataFrame made of ``X``
and ``y``. The fitted estimator keeps ``record_`` (the stored
:class:`~automux.core.experiment.record.RunRecord`), ``run_id_``, ``store_root_``,
``n_features_in_`` and, when ``X`` had string column names, ``feature_names_in_``;
a classifier also keeps ``classes_``. Numpy input without names gets the
column names ``x0 .. x{n-1}`` inside automux.

Prediction uses the stored model, never a live object from the fit:

* backends of the main env (``record_.env["automux_env"]["isolated"]`` false)
  are loaded once in this process with the adapter's ``load`` after every model
  file's sha256 has been checked against ``record_.artifacts``, then kept in a
  small module-level cache (never on the estimator, so pickles and ``__dict__``
  hold no live backend object); ``adapter.predict`` runs in-process (fast, no
  files written);
* backends of an isolated env predict through
  :func:`automux.core.run.predict.predict`, a predict job of the worker in the
  env that trained the model (it writes ``RUN_DIR/predict/ID/`` per call).

The estimators pickle as their parameters, the record and the store path: an
unpickled one in a new process loads the model from the store (checking the
hashes again) on its first prediction. Cloning
gives an unfitted copy with the same parameters, as scikit-learn requires.
The target is passed to automux as integer class codes (classification) so
the backend never sees label types it may mishandle; ``classes_`` maps back.
"""
from __future__ import annotations

import inspect
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .core.errors import AutomuxError, DataError

__all__ = ["AutoMuxClassifier", "AutoMuxRegressor", "FitFailed", "ModelIntegrityError"]

#: The name of the target column in the frame handed to automux (never a feature name).
TARGET = "__automux_target__"


class FitFailed(AutomuxError, RuntimeError):
    """The run ended with a status other than ``ok``; its record is in the store."""


class ModelIntegrityError(AutomuxError, RuntimeError):
    """A stored model file is missing or its sha256 differs from the run record's."""


#: Loaded models of main-env runs, by (store root, run id, model hashes); at most ``_CACHE_SIZE``.
_MODELS: OrderedDict[tuple, tuple] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _get_adapter(name: str) -> Any:
    """The registered adapter ``name`` (through the registry when this automux has one)."""
    try:
        from .core.registry import get_adapter
    except ImportError:  # pragma: no cover - older layout
        from .core.plugins import get_adapter
    return get_adapter(name)


def _run_accepts(name: str) -> bool:
    """Whether :func:`automux.run` (or the experiment it builds) takes the keyword ``name``."""
    from . import api

    return any(name in inspect.signature(f).parameters for f in (api.run, api.experiment))


def verify_model_files(record: Any, run_dir: Path) -> None:
    """Check every model file of ``record`` against its recorded sha256.

    Raises:
        ModelIntegrityError: a recorded file is missing, differs, or the model
            directory holds a file the record does not name.
    """
    from .core.run import jobfiles as jf

    recorded = {k: v for k, v in record.artifacts.items() if k.startswith(jf.MODEL_DIR + "/")}
    if not recorded:
        raise ModelIntegrityError(f"run {record.run_id} records no model files")
    actual = jf.artifact_hashes(run_dir, [jf.MODEL_DIR])
    for name, sha in recorded.items():
        if name not in actual:
            raise ModelIntegrityError(f"model file {run_dir / name} of run {record.run_id} is missing")
        if actual[name] != sha:
            raise ModelIntegrityError(f"model file {run_dir / name} of run {record.run_id} has sha256 "
                                      f"{actual[name][:12]}, the record says {sha[:12]}: it changed since the fit")
    extra = sorted(set(actual) - set(recorded))
    if extra:
        raise ModelIntegrityError(f"run {record.run_id}'s model dir holds files the record does not name: "
                                  f"{', '.join(extra[:5])}")


class _AutoMuxBase(BaseEstimator):
    """What both estimators share: parameters, the fit through ``automux.run``, stored-model prediction.

    Parameters (all stored as given, as scikit-learn requires):
        backend: an adapter name (``automux backends``) or ``"auto"`` (the selector's choice).
        budget_trials, budget_seconds: the budget; 10 trials when both are None.
        seed: the master seed (every other seed is derived from it).
        cores: passed to ``automux.run`` only where it accepts ``cores``; otherwise
            a warning says it is ignored.
        folds, test_size, metric: the contract's split and metric (metric None: the task's default).
        store: run store directory or ``RunStore`` (None: ``$AUTOMUX_STORE`` or ``./automux-runs``).
        options: backend options (``--option KEY=VALUE``).
        readiness: run the readiness check and record the gain over the baselines.
        inline: run the backend in this process instead of the worker (debugging
            and fast tests only; the record says ``execution: inline``).
    """

    _task_kind = ""  # "classification" or "regression"

    def __init__(self, backend: str = "reference", budget_trials: Optional[int] = None,
                 budget_seconds: Optional[float] = None, seed: int = 0, cores: Optional[int] = None,
                 folds: int = 5, test_size: float = 0.25, metric: Optional[str] = None, store: Any = None,
                 options: Optional[Dict[str, Any]] = None, readiness: bool = True, inline: bool = False) -> None:
        self.backend = backend
        self.budget_trials = budget_trials
        self.budget_seconds = budget_seconds
        self.seed = seed
        self.cores = cores
        self.folds = folds
        self.test_size = test_size
        self.metric = metric
        self.store = store
        self.options = options
        self.readiness = readiness
        self.inline = inline

    # --- tags -----------------------------------------------------------------------------------

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._backend_handles_missing()
        tags.non_deterministic = self.budget_trials is None and self.budget_seconds is not None
        return tags

    def _backend_handles_missing(self) -> bool:
        try:
            return bool(_get_adapter(self.backend).capabilities.missing_values)
        except (LookupError, AutomuxError):  # "auto", or an unknown name: fit will say so
            return False

    # --- input ----------------------------------------------------------------------------------

    def _check_X(self, X: Any, y: Any = None, *, reset: bool) -> Any:
        """Validate ``X`` (and ``y`` on fit); keeps a DataFrame as it is, turns arrays numeric."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            if y is None:
                return X
            y = column_or_1d(np.asarray(y) if not isinstance(y, pd.Series) else y.to_numpy(), warn=True)
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
            return X, y
        finite = "allow-nan" if self._backend_handles_missing() else True
        if y is None:
            return validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite=finite)
        return validate_data(self, X, y, reset=reset, dtype="numeric", ensure_all_finite=finite,
                             y_numeric=self._task_kind == "regression")

    def _columns(self) -> List[str]:
        names = getattr(self, "feature_names_in_", None)
        return [str(c) for c in names] if names is not None else [f"x{i}" for i in range(self.n_features_in_)]

    def _frame(self, X: Any) -> pd.DataFrame:
        """``X`` as a DataFrame with the training column names."""
        cols = self._columns()
        if isinstance(X, pd.DataFrame):
            frame = X[list(self.feature_names_in_)] if hasattr(self, "feature_names_in_") else X
            frame = frame.copy()
            frame.columns = cols
            return frame.reset_index(drop=True)
        return pd.DataFrame(np.asarray(X), columns=cols)

    # --- fit ------------------------------------------------------------------------------------

    def _encode_y(self, y: np.ndarray) -> tuple[np.ndarray, str]:
        """The target as automux gets it and the task name; sets ``classes_`` for a classifier."""
        raise NotImplementedError

    def _run_kwargs(self) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = dict(
            budget_trials=self.budget_trials, budget_seconds=self.budget_seconds, seed=self.seed,
            folds=self.folds, test_size=self.test_size, metric=self.metric, options=self.options,
            store=self.store, readiness=self.readiness, inline=self.inline)
        if kwargs["budget_trials"] is None and kwargs["budget_seconds"] is None:
            kwargs["budget_trials"] = 10
        if self.cores is not None:
            if _run_accepts("cores"):
                kwargs["cores"] = self.cores
            else:
                warnings.warn("cores= is ignored: this automux.run does not take cores", UserWarning, stacklevel=3)
        return kwargs

    def fit(self, X: Any, y: Any = None) -> _AutoMuxBase:
        """One run under the contract on ``X`` and ``y``; returns self.

        Raises:
            ValueError: bad input (no y, one class, too few rows, wrong shapes;
                automux's DataError / SpecError are ValueErrors too).
            FitFailed: the run failed or timed out (its record is in the store).
        """
        from . import api
        from .core.run.store import RunStore

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X, y = self._check_X(X, y, reset=True)
        if len(y) < 2:
            raise ValueError(f"{type(self).__name__} needs more rows: got n_samples = {len(y)}")
        codes, task = self._encode_y(y)
        frame = self._frame(X)
        frame[TARGET] = codes
        store = self.store if isinstance(self.store, RunStore) else RunStore(self.store)
        kwargs = dict(self._run_kwargs(), store=store)
        record = api.run(frame, TARGET, self.backend, task=task, **kwargs)
        if record.status != "ok":
            raise FitFailed(f"automux run {record.run_id} on {record.backend} ended {record.status}: "
                            f"{record.error or 'see its record'} (store {store.root})")
        self.record_ = record
        self.run_id_ = record.run_id
        self.backend_ = record.backend
        self.store_root_ = str(store.root.resolve())
        return self

    # --- predict --------------------------------------------------------------------------------

    def _run_dir(self) -> Path:
        return Path(self.store_root_) / self.run_id_

    def _in_main_env(self) -> bool:
        return not ((self.record_.env or {}).get("automux_env") or {}).get("isolated", False)

    def _loaded(self) -> tuple[Any, Any]:
        """The adapter and its model loaded from the store, cached in this process (not on self).

        The model files are checked against ``record_.artifacts`` before the
        load; the cache key holds those hashes, so a model is only ever reused
        for a record that names exactly the files it was loaded from.
        """
        from .core.run import jobfiles as jf

        hashes = tuple(sorted((k, v) for k, v in self.record_.artifacts.items() if k.startswith(jf.MODEL_DIR + "/")))
        key = (self.store_root_, self.run_id_, hashes)
        with _CACHE_LOCK:
            if key in _MODELS:
                _MODELS.move_to_end(key)
                return _MODELS[key]
        run_dir = self._run_dir()
        verify_model_files(self.record_, run_dir)
        adapter = _get_adapter(self.record_.backend)
        loaded = (adapter, adapter.load(run_dir / jf.MODEL_DIR))
        with _CACHE_LOCK:
            _MODELS[key] = loaded
            while len(_MODELS) > _CACHE_SIZE:
                _MODELS.popitem(last=False)
        return loaded

    def _raw_predict(self, X: Any) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` in ``classes_`` order, or regression values ``(n,)``."""
        check_is_fitted(self, "record_")
        X = self._check_X(X, reset=False)
        frame = self._frame(X)
        if self._in_main_env():
            return self._predict_in_process(frame)
        return self._predict_job(frame)

    def _predict_in_process(self, frame: pd.DataFrame) -> np.ndarray:
        from .core.run.predict import align_features

        adapter, model = self._loaded()
        aligned, _ = align_features(frame, TARGET, self._run_dir())
        return np.asarray(adapter.predict(model, aligned), dtype=np.float64)

    def _predict_job(self, frame: pd.DataFrame) -> np.ndarray:
        from .core.run import jobfiles as jf
        from .core.run.predict import predict as predict_run
        from .core.run.store import RunStore

        verify_model_files(self.record_, self._run_dir())
        out = predict_run(self.run_id_, frame, store=RunStore(self.store_root_))
        if out["status"] != "ok":
            raise FitFailed(f"the predict job of run {self.run_id_} failed: {out['error']} (see {out['job_dir']})")
        return jf.predictions_array(jf.read_arrow(Path(out["predictions_arrow"])), self.record_.spec.task)


class AutoMuxClassifier(ClassifierMixin, _AutoMuxBase):
    """A classifier whose ``fit`` is one automux run; see the module docstring."""

    _task_kind = "classification"

    def _encode_y(self, y: np.ndarray) -> tuple[np.ndarray, str]:
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least two classes: only one class is present "
                             f"({self.classes_[0]!r})")
        codes = np.searchsorted(self.classes_, y).astype(np.int64)
        return codes, "binary" if len(self.classes_) == 2 else "multiclass"

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` in ``classes_`` order, from the stored model."""
        return self._raw_predict(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row."""
        check_is_fitted(self, "record_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class AutoMuxRegressor(RegressorMixin, _AutoMuxBase):
    """A regressor whose ``fit`` is one automux run; see the module docstring."""

    _task_kind = "regression"

    def _encode_y(self, y: np.ndarray) -> tuple[np.ndarray, str]:
        try:
            values = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{type(self).__name__} needs a numeric y: convert the target to numbers") from None
        bad = int((~np.isfinite(values)).sum())
        if bad:  # said here, in the estimator's words (not the internal target column's, nor a CLI flag's)
            raise DataError(f"{type(self).__name__}: y holds {bad} missing or infinite value(s): drop those rows "
                             "(or fill y) before fit")
        return values, "regression"

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values ``(n,)`` from the stored model."""
        return self._raw_predict(X).ravel()
