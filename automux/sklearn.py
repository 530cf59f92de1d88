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

The data of ``fit`` is written once to ``STORE/_sources/<content sha256>.parquet``
and the run names that file as its data (a frame Parquet cannot hold is passed
in memory instead), so the run is a stored run like a CLI run: ``automux.verify``,
``automux explain`` and ``automux promote`` accept it. What the search found is
read from the stored run on first access: ``leaderboard_`` (a DataFrame,
``automux.load(run_id_).leaderboard()``), ``best_estimator_`` (the chosen
candidate rebuilt as a scikit-learn pipeline from the backend's candidate source,
or else the stored model the adapter loads) and ``feature_importances_``
(permutation importance on the hold-out, ``automux explain``). Errors name the
estimator's parameters (``test_size=1.5``), never the CLI's flags.

``test_size`` is the hold-out share of the run. ``test_size=0.0`` means "no
hold-out for the final model": the search is still the contract's run (automux's
fixed folds on the default hold-out split, every score computed by automux and
recorded, so it stays verifiable), then the chosen candidate's rebuilt pipeline
is refitted on all rows of ``X`` and ``predict`` uses it (``refit_all_`` is
True). The record's hold-out score then describes the candidate, not that refit
model. A backend whose chosen candidate has no scikit-learn rebuild here
(auto-sklearn, H2O, AutoGluon...) refuses ``test_size=0.0`` with a ValueError.

The estimators pickle as their parameters, the record and the store path: an
unpickled one in a new process loads the model from the store (checking the
hashes again) on its first prediction. Cloning
gives an unfitted copy with the same parameters, as scikit-learn requires.
The target is passed to automux as integer class codes (classification) so
the backend never sees label types it may mishandle; ``classes_`` maps back.
"""
from __future__ import annotations

import inspect
import re
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

from .core.errors import AutomuxError, DataError, SpecError
from .core.experiment.prepare import DEFAULT_TEST_SIZE

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


#: Where the estimators keep the data they were fitted on, in the run store (never a run id: ids start alnum).
SOURCES_DIR = "_sources"


def _stored_source(store: Any, frame: pd.DataFrame) -> Any:
    """``frame`` written once to ``STORE/_sources/<content sha256>.parquet``; that path, or ``frame`` itself.

    The run then names a file as its data, like a CLI run, so ``automux.verify``, ``automux explain``
    and ``automux promote`` find it again (and check its fingerprint). A frame Parquet cannot hold
    (mixed-type object columns) is passed in memory: that run can be verified only with the data passed again.
    """
    import hashlib

    try:
        h = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        h.update("\x1f".join(str(t) for t in frame.dtypes).encode())
        path = Path(store.root) / SOURCES_DIR / f"{h.hexdigest()}.parquet"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
            try:
                frame.to_parquet(tmp, index=False)
                tmp.replace(path)
            finally:
                tmp.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 - a column Parquet (or hashing) refuses: fall back to the in-memory frame
        return frame
    return str(path.resolve())


#: automux's CLI flags and the estimators' parameters that set them.
_FLAG_PARAMS = {"--test-size": "test_size", "--folds": "folds", "--budget-trials": "budget_trials",
                "--budget-seconds": "budget_seconds", "--seed": "seed", "--metric": "metric",
                "--option": "options", "--cores": "cores", "--backend": "backend"}


def _python_names(message: str) -> str:
    """``message`` with each CLI flag as the estimator parameter that sets it (``--folds 1`` -> ``folds=1``)."""
    for flag, param in _FLAG_PARAMS.items():
        message = re.sub(re.escape(flag) + r" ([^\s:,;]+)", param + r"=\1", message)
        message = re.sub(re.escape(flag) + r"(?![\w-])", param, message)
    return message


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
            folds=self.folds, test_size=DEFAULT_TEST_SIZE if self._no_holdout() else self.test_size,
            metric=self.metric, options=self.options,
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
        try:
            record = api.run(_stored_source(store, frame), TARGET, self.backend, task=task, **kwargs)
        except (DataError, SpecError) as e:  # automux says CLI flags; the estimator's user set parameters
            raise type(e)(_python_names(str(e))) from None
        if record.status != "ok":
            raise FitFailed(f"automux run {record.run_id} on {record.backend} ended {record.status}: "
                            f"{record.error or 'see its record'} (store {store.root})")
        self.record_ = record
        self.run_id_ = record.run_id
        self.backend_ = record.backend
        self.store_root_ = str(store.root.resolve())
        for cached in ("_best_estimator", "_feature_importances"):
            self.__dict__.pop(cached, None)
        self.refit_all_ = self._no_holdout()
        if self.refit_all_:
            best = self._rebuilt_chosen(frame.drop(columns=TARGET), codes)
            if best is None:
                raise ValueError(f"test_size=0.0 refits the chosen candidate on all rows, but run {record.run_id}'s "
                                 f"candidate {record.chosen} ({record.backend}) has no scikit-learn rebuild here: "
                                 "give a hold-out share (e.g. test_size=0.25) or another backend")
            self._best_estimator = best
        return self

    def _no_holdout(self) -> bool:
        """``test_size=0.0``: the final model is refitted on all rows after the search."""
        return not isinstance(self.test_size, bool) and isinstance(self.test_size, (int, float)) \
            and float(self.test_size) == 0.0

    # --- what the search found (computed on first access, from the stored run) --------------------

    @property
    def leaderboard_(self) -> pd.DataFrame:
        """The run's candidates, best CV score first: ``automux.load(run_id_).leaderboard()``."""
        check_is_fitted(self, "record_")
        from .predictor import Predictor

        return Predictor(self.record_, self.store_root_).leaderboard()

    @property
    def feature_importances_(self) -> np.ndarray:
        """Permutation importance (mean drop in the run's metric on its hold-out) per input column.

        Computed on first access by ``automux explain`` (stored in the run's record, then kept on the
        estimator); in ``n_features_in_`` order, NaN for a column the run did not use as it was
        (e.g. a date column expanded into parts).
        """
        check_is_fitted(self, "record_")
        if "_feature_importances" not in self.__dict__:
            from .governance.importance import importance

            result = importance(self.run_id_, store=self.store_root_)
            drop = {str(f["feature"]): float(f["mean"]) for f in result.get("features") or []}
            self._feature_importances = np.array([drop.get(c, np.nan) for c in self._columns()])
            from .core.run.store import RunStore
            self.record_ = RunStore(self.store_root_).load(self.run_id_)  # the importances are in it now
        return self._feature_importances

    @property
    def best_estimator_(self) -> Any:
        """The chosen candidate as a scikit-learn estimator, fitted on the run's training rows.

        The backend's rebuilt pipeline (``build_model()`` from the adapter's candidate source, as
        ``automux promote`` writes it) where the backend gives one and its libraries import here:
        it takes a DataFrame with the estimator's column names (``x0 ..`` for arrays; categoricals
        as strings) and, for a classifier, predicts class codes (indices into ``classes_``); fitted on
        the run's training rows, or on all rows with ``test_size=0.0`` (then ``predict`` uses it).
        Otherwise the stored model as the adapter loads it (the object ``predict`` uses; main-env
        backends only). Built on first access.
        """
        check_is_fitted(self, "record_")
        if "_best_estimator" not in self.__dict__:
            self._best_estimator = self._rebuilt_chosen()
        if self._best_estimator is not None:
            return self._best_estimator
        if not self._in_main_env():
            raise AttributeError(f"best_estimator_: run {self.run_id_}'s backend {self.backend_} gives no "
                                 "rebuild and runs in an isolated env (predict goes through its worker)")
        return self._loaded()[1]

    def _rebuilt_chosen(self, X: Optional[pd.DataFrame] = None, y: Optional[np.ndarray] = None) -> Any:
        """``build_model()`` of the chosen candidate's source, fitted on the stored training rows (or on
        ``X``, ``y``: the estimator's columns, automux's target codes); None where there is no rebuild."""
        from .core.run import jobfiles as jf
        from .core.run.revalidate import rebuild_refusal
        from .core.sklearn_kit import to_sklearn_frame

        record = self.record_
        if record.chosen is None:
            return None
        train = jf.read_arrow(self._run_dir() / jf.TRAIN)
        stored_y = train.pop(jf.TARGET_COL).to_numpy()
        y = stored_y if y is None else y
        train = train.drop(columns=[c for c in (jf.FOLD_COL, jf.ROW_COL) if c in train.columns])
        if train.shape[1] == self.n_features_in_:  # automux's safe column names back to the estimator's
            train.columns = self._columns()
        columns = {str(c): "categorical" if isinstance(t, pd.CategoricalDtype) else "numeric"
                   for c, t in train.dtypes.items()}
        adapter = _get_adapter(record.backend)
        cand = record.candidates[record.chosen]
        if rebuild_refusal(adapter, cand, record.spec.task, columns):
            return None
        source = adapter.candidate_source(cand, record.spec.task, columns, int(record.spec.seeds["backend"]))
        if source is None:
            return None
        scope: Dict[str, Any] = {"__name__": f"automux_candidate_{record.chosen}"}
        try:
            exec(compile(source, f"<candidate {record.chosen} of run {record.run_id}>", "exec"), scope)
        except ImportError:  # the model's library lives in the backend's env only
            return None
        if X is None:
            X = train
        elif list(X.columns) != list(train.columns):
            return None  # the run saw other columns (dates expanded into parts): no refit on the raw frame
        return scope["build_model"]().fit(to_sklearn_frame(X), y)

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
        if getattr(self, "refit_all_", False):
            from .core.sklearn_kit import to_sklearn_frame
            best = self._best_estimator
            pred = best.predict_proba(to_sklearn_frame(frame)) if self._task_kind == "classification" \
                else best.predict(to_sklearn_frame(frame))
            return np.asarray(pred, dtype=np.float64)
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
