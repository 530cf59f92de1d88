"""The H2O AutoML adapter: search on automux's folds, candidates in AutoML's build order, save / load / predict."""
from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ...core.adapter import Adapter, SearchResult, SearchTask
from ...core.capabilities import Capabilities, Environment
from ...core.errors import SpecError
from ...core.hookspecs import hookimpl
from ...core.run.warm import CANCELLED, await_runtime
from .cluster import (
    _SESSION,
    JAVA_HINT,
    LocalH2O,
    connect_warm,
    ensure_cluster,
    find_java,
    shutdown,
    start_cluster,
)
from .frames import (
    FOLD,
    TARGET,
    H2OModel,
    _download,
    _features,
    _frame_layout,
    _level,
    _output,
    _upload,
)
from .plan import _automl_settings, _display_url, _quick_plan, parse_options

MODEL_FILE = "model.h2o"
#: Share of the spec's memory (``--memory``) given to the JVM's heap when ``max_mem_size`` is not set.
HEAP_SHARE = 0.6
META_FILE = "automux_h2o.json"
KEY_PARAMS = ("ntrees", "max_depth", "learn_rate", "sample_rate", "col_sample_rate", "col_sample_rate_per_tree",
              "min_rows", "mtries", "alpha", "lambda", "booster", "reg_lambda", "reg_alpha",
              "metalearner_algorithm")


def _build_order(aml: Any, model_ids: List[str]) -> List[str]:
    """Leaderboard models in the order AutoML started them (its event log)."""
    log = _download(aml.event_log)
    started: List[str] = []
    for msg in log["message"].astype(str):
        m = re.match(r"AutoML: starting (\S+) model training", msg)
        if m and m.group(1) in model_ids and m.group(1) not in started:
            started.append(m.group(1))
    return started + [m for m in model_ids if m not in started]


def _key_params(model: Any) -> Dict[str, Any]:
    params = model.actual_params or {}
    out: Dict[str, Any] = {}
    for key in KEY_PARAMS:
        v = params.get(key)
        if isinstance(v, (int, float, str, bool)) or (isinstance(v, list) and len(v) <= 4):
            out[key] = v
    if model.algo == "stackedensemble":
        out["base_models"] = len(params.get("base_models") or [])
    return out


def heap_for(memory_mb: int) -> str:
    """The JVM heap (``-Xmx``) for a spec memory of ``memory_mb`` MiB: :data:`HEAP_SHARE` of it (the JVM's own
    overhead and the Python worker holding the data take the rest), at least 256M."""
    return f"{max(256, int(memory_mb * HEAP_SHARE))}M"


def _jvm_options(options: Dict[str, Any], cores: int, memory_mb: Optional[int]) -> Dict[str, Any]:
    """The options with the JVM's threads (``nthreads``, else the spec's cores) and heap (``max_mem_size``,
    else :func:`heap_for` the spec's memory, else parse_options' 1G) filled in."""
    out = dict(options, nthreads=options.get("nthreads", cores))
    if not options.get("max_mem_size") and memory_mb:
        out["max_mem_size"] = heap_for(memory_mb)
    return out


def _holdout_predictions(model: Any) -> Optional[Any]:
    """Out-of-fold predictions for every training row (a stacked ensemble: its metalearner's)."""
    if model.algo == "stackedensemble":
        meta = model.metalearner()
        return None if meta is None else meta.cross_validation_holdout_predictions()
    return model.cross_validation_holdout_predictions()


class H2OAdapter(Adapter):
    name = "h2o"
    #: Why promotion refuses every H2O candidate (read by ``automux promote``; see docs/governance.md).
    rebuild_refusal = ("H2O's models are JVM objects (GBM, DRF, GLM, XGBoost, stacked ensembles) trained by the "
                       "H2O cluster: they have no plain scikit-learn equivalent that reproduces their fold scores, "
                       "so no explicit rebuild is written; use the backend's own model (MOJO) outside promotion")
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="ensemble", interpretable=False,
        min_budget={"trials": 1, "seconds": 30},
        distributed="h2o cluster (option url)",
        strengths=("large_data", "distributed", "thorough_search", "categorical_native"),
    )
    environment = Environment(name="main", python=">=3.9", requirements=("h2o>=3.46",),
                              import_names=("h2o",), extra="h2o")

    def unavailable_reason(self) -> Optional[str]:
        """Missing ``h2o`` package or missing Java (checked without importing h2o)."""
        reason = super().unavailable_reason()
        if reason is None and find_java() is None:
            reason = f"Java not found. {JAVA_HINT}"
        return reason

    def check_options(self, options: Dict[str, Any]) -> None:
        """Bad options are user errors, refused in the parent before a worker starts."""
        parse_options(options)

    def validate(self, task: SearchTask) -> None:
        """The base checks, then the options against the budget (before any JVM starts).

        Raises:
            UnsupportedTask, UnsupportedData: see :meth:`Adapter.validate`.
            SpecError: bad options, or ``include_algos`` that leave nothing to train.
        """
        super().validate(task)
        _automl_settings(task)

    #: The cluster generation ``start_up`` connected to (None: not started, or shut down since).
    _started: Optional[int] = None

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Start the private JVM (or connect to ``url``, or to the warm JVM a compare / bench lent
        this run: ``task.warm``) before the budget clock starts.

        Its heap is the ``max_mem_size`` option, else :func:`heap_for` the spec's memory,
        else 1G; its threads the ``nthreads`` option, else the spec's cores.
        """
        t0 = time.monotonic()
        lent = self._lent(task)
        if lent is not None:
            task.log(f"h2o: warm JVM pid {lent['pid']} on 127.0.0.1:{lent['port']} (heap {lent['max_mem_size']}, "
                     f"{lent['runs_served']} runs served) ready in {time.monotonic() - t0:.1f}s, emptied")
            return {"h2o_heap": lent["max_mem_size"], "warm": bool(lent.get("warm")),
                    "runtime": {k: lent.get(k) for k in ("kind", "pid", "port", "runs_served", "start_s")}}
        options = _jvm_options(task.options, task.cores, task.memory_mb)
        try:
            start_cluster(options, task.workdir)
        except BaseException:
            shutdown()
            raise
        self._started = _SESSION.generation
        task.log(f"h2o: cluster ready in {time.monotonic() - t0:.1f}s"
                 + (f" at {_display_url(task.options['url'])}" if task.options.get("url") else
                    f" on 127.0.0.1:{_SESSION.local.port} (pid {_SESSION.local.pid}, heap "
                    f"{_SESSION.local.max_mem_size})"))
        return {"h2o_heap": None if task.options.get("url") else _SESSION.local.max_mem_size}

    def _lent(self, task: SearchTask) -> Optional[Dict[str, Any]]:
        """Connected to the warm JVM a compare / bench lent this run (``task.warm``), emptied: its identity;
        None when none was lent or it cannot be used (the run then starts its own, and the log says why).

        A lease still pending (the parent's JVM starting while this worker started) is awaited after
        ``import h2o``, so the import overlaps the JVM's start; the wait is bounded by the start-up cap."""
        if not task.warm or not (task.warm.get("kind") == "h2o" or task.warm.get("pending")):
            return None
        try:
            import h2o  # noqa: F401 - seconds of import, overlapped with the parent's JVM start
            lent = await_runtime(task.warm, timeout_s=float(task.budget.startup_timeout_s))
            if lent.get("kind") != "h2o":
                raise RuntimeError(f"the lent runtime is not an H2O JVM: {lent.get('kind')!r}")
            connect_warm(lent)
        except Exception as e:  # a warm JVM is an optimisation: start this run's own instead
            task.log(f"h2o: the warm JVM could not be used ({e}); starting this run's own")
            return None
        self._started = _SESSION.generation
        return lent

    #: The pool lends the JVM while it starts: the worker's imports and data reading overlap its start.
    warm_overlap = True

    def warm_key(self, options: Dict[str, Any], cores: int, memory_mb: Optional[int]) -> Optional[Tuple[str, str, int]]:
        """Which warm JVM a run can share (``automux.core.run.warm``): same heap and threads; none with ``url``."""
        opts = parse_options(_jvm_options(options, cores, memory_mb))
        if opts["url"]:
            return None
        return ("h2o", str(opts["max_mem_size"]), int(opts["nthreads"]))

    def start_warm(self, key: Tuple[str, str, int], root: Path) -> LocalH2O:
        """In the parent of a compare / bench: a JVM on 127.0.0.1 in its own process group, dying with the
        starting thread (``PR_SET_PDEATHSIG``: the pool's keeper thread, which lives until the pool stops it,
        or the process), files under ``root``; gives up once ``root/CANCELLED`` exists. Stopped by the pool,
        never by a run."""
        local = LocalH2O(root, max_mem_size=key[1], nthreads=key[2], cancel_file=Path(root) / CANCELLED)
        try:
            local.start(own_session=True, import_h2o=False)
        except BaseException:
            local.stop()
            raise
        return local

    def shut_down(self) -> None:
        """Stop the JVM ``start_up`` started (never a cluster given by ``url``: only the connection closes)."""
        self._started = None
        shutdown()

    def search(self, task: SearchTask) -> SearchResult:
        try:
            if self._started is None or self._started != _SESSION.generation:
                self.start_up(task)  # start_up was not called: the JVM's start is then inside the budget
            return self._search(task)
        except BaseException:
            self.shut_down()
            raise

    def _search(self, task: SearchTask) -> SearchResult:
        import h2o
        from h2o.automl import H2OAutoML, get_leaderboard
        layout = _frame_layout(task.X)
        frame = _features(task.X, layout)
        types = dict(layout["types"])
        if task.task != "regression":
            frame[TARGET] = [_level(int(v)) for v in task.y]
            types[TARGET] = "enum"
        else:
            frame[TARGET] = np.asarray(task.y, dtype=np.float64)
            types[TARGET] = "real"
        fold = np.full(len(frame), -1, dtype=np.int64)
        for k, (_, valid) in enumerate(task.folds):
            fold[valid] = k
        if (fold < 0).any():
            raise SpecError("h2o needs every training row in exactly one validation fold")
        frame[FOLD] = fold
        types[FOLD] = "int"
        train = _upload(frame, types)

        def automl(settings: Dict[str, Any]) -> "tuple[Any, pd.DataFrame]":
            aml = H2OAutoML(project_name=f"automux_{uuid.uuid4().hex[:8]}", **settings)
            task.log(f"h2o: AutoML {json.dumps({k: v for k, v in settings.items() if k != 'verbosity'})}")
            aml.train(x=layout["names"], y=TARGET, training_frame=train, fold_column=FOLD)
            return aml, _download(get_leaderboard(aml, extra_columns="ALL"))

        settings = _automl_settings(task)
        if task.budget.seconds is not None and "max_runtime_secs" not in settings:
            task.log(f"h2o: {task.time_left():.1f}s left of the {task.budget.seconds:g}s budget: "
                     f"too little for AutoML, one {settings['include_algos'][0]} model instead (quick plan)")
        aml, lb = automl(settings)
        if lb.empty and "max_runtime_secs" in settings:
            task.log("h2o: the time cap cancelled every AutoML model: one quick model instead (quick plan)")
            settings = _quick_plan(settings)  # the time cap cancelled every model
            aml, lb = automl(settings)
        if lb.empty:
            raise RuntimeError("H2O AutoML trained no model within the budget")
        times = dict(zip(lb["model_id"], lb.get("training_time_ms", pd.Series([None] * len(lb)))))
        ids: List[str] = []
        best_oof: Optional[np.ndarray] = None  # the best candidate's cross-validation hold-out predictions
        limit = task.budget.trials
        for model_id in _build_order(aml, list(lb["model_id"])):
            if limit is not None and len(ids) >= limit:
                break  # defensive: never report more candidates than trials
            model = h2o.get_model(model_id)
            holdout = _holdout_predictions(model)
            scores: List[Optional[float]] = [None] * len(task.folds)
            if holdout is not None:
                pred = _output(_download(holdout), task.task, task.n_classes)
                scores = [task.metric(task.y[valid], pred[valid]) for _, valid in task.folds]
            ms = times.get(model_id)
            cand = task.add_candidate(model.algo, _key_params(model), scores, steps=["H2OFrame", model.algo],
                                      fit_time_s=None if ms is None or pd.isna(ms) else float(ms) / 1000.0,
                                      model_id=model_id)
            ids.append(model_id)
            if holdout is not None and task.best_index() == cand.index:
                best_oof = pred
        chosen = task.best_index()
        if chosen is None:
            raise RuntimeError("no H2O model had cross-validation predictions to score")
        model = h2o.get_model(ids[chosen])
        h2o.remove(train)
        binary = h2o.download_model(model, path=str(task.workdir), filename=f"chosen_{MODEL_FILE}")
        meta = dict(layout, task=task.task, n_classes=task.n_classes, model_id=ids[chosen],
                    algo=model.algo, h2o_version=h2o.__version__)
        return SearchResult(model=H2OModel(model, meta, binary=Path(binary)), chosen=chosen, oof=best_oof,
                            info={"h2o_version": h2o.__version__, "leader": str(lb["model_id"][0]),
                                  "automl": {k: v for k, v in settings.items() if k != "verbosity"}})

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        import h2o

        live = model.live()
        meta = model.meta
        frame = _upload(_features(X, meta), meta["types"])
        pred_frame = live.predict(frame)
        pred = _output(_download(pred_frame), meta["task"], meta["n_classes"])
        h2o.remove(frame)
        h2o.remove(pred_frame)
        return pred

    def save(self, model: Any, path: Path) -> None:
        path = Path(path)
        if model.binary is not None and Path(model.binary).exists():
            shutil.copyfile(model.binary, path / MODEL_FILE)
        else:
            import h2o
            h2o.download_model(model.live(), path=str(path), filename=MODEL_FILE)
        (path / META_FILE).write_text(json.dumps(model.meta, indent=2, sort_keys=True), encoding="utf-8")

    def load(self, path: Path) -> Any:
        import h2o

        ensure_cluster()
        path = Path(path)
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        return H2OModel(h2o.upload_model(str(path / MODEL_FILE)), meta, binary=path / MODEL_FILE)


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [H2OAdapter()]
