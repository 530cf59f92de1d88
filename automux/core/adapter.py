"""The adapter base class: the contract every backend plugin implements.

Invariants an adapter must keep (each is checked by ``automux.contracts``):

* it searches only on ``task.X`` / ``task.y`` (the hold-out never reaches it) and
  scores candidates on ``task.folds``, reporting each through ``task.report``;
* it seeds its backend from ``task.seed`` and nothing else;
* it stops within ``task.budget`` (``task.trials_left()`` / ``task.time_left()``);
* ``predict`` returns class probabilities ``(n, n_classes)`` in ``task.classes``
  order for classification and a 1-d float array for regression;
* ``save`` then ``load`` gives a model with identical predictions;
* importing the adapter's module never imports its backend;
* it refuses options it does not declare: the base ``check_options`` raises
  ``SpecError`` for any key outside ``accepted_options`` unless
  ``free_form_options`` is True (an override should call ``super()`` or do the same).
"""
from __future__ import annotations

import importlib.util
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from .experiment.budget import Budget
from .capabilities import Capabilities, Environment
from .errors import UnsupportedData, UnsupportedTask
from .experiment.metrics import Metric
from .experiment.spec import Candidate


#: Set (by the contract suite) in a worker's environment: jitter every ``time.sleep`` and switch threads often.
PERTURB_ENV = "AUTOMUX_PERTURB_TIMING"
#: Most seconds added to one ``time.sleep`` call under ``PERTURB_ENV``.
PERTURB_MAX_JITTER_S = 0.5


def perturb_timing() -> bool:
    """Under ``AUTOMUX_PERTURB_TIMING``: make thread timing in this process unlike a quiet run's.

    Every ``time.sleep`` gets up to ``PERTURB_MAX_JITTER_S`` extra seconds (from
    OS entropy, so no two runs agree) and the interpreter switches threads every
    10 microseconds. A search whose candidates or choice depend on which thread
    finishes first then gives another result; a deterministic one does not.
    Only in a worker process (``python -m automux.core.run.worker``). Returns whether it is on. Idempotent.
    """
    if not os.environ.get(PERTURB_ENV):
        return False
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None) != "automux.core.run.worker":
        return False  # only ever in a worker process: never patch the parent's time.sleep
    if getattr(time.sleep, "_automux_jitter", False):
        return True
    real_sleep = time.sleep
    rng = random.Random(os.urandom(8))

    def jittered_sleep(seconds: float) -> None:
        real_sleep(max(0.0, float(seconds)) + rng.uniform(0.0, PERTURB_MAX_JITTER_S))

    jittered_sleep._automux_jitter = True  # type: ignore[attr-defined]
    time.sleep = jittered_sleep  # type: ignore[assignment]
    sys.setswitchinterval(1e-5)
    return True


@dataclass
class SearchTask:
    """What the worker hands an adapter's ``search``.

    ``folds`` are (fit positions, validation positions) into ``X``. ``deadline`` is
    a ``time.monotonic()`` value by which the search must have ended (None under a
    count budget alone). ``report`` streams a candidate to the job dir at once.
    ``workdir`` is the job's scratch directory: it persists in the run store
    after the run (``save`` should write the model elsewhere, not copy it).
    ``add_candidate`` is not thread-safe: call it from one thread, in a
    deterministic order (collect results from worker threads, then report them).
    """

    X: pd.DataFrame
    y: np.ndarray
    task: str
    classes: List[Any]
    folds: List[Tuple[np.ndarray, np.ndarray]]
    metric: Metric
    seed: int
    budget: Budget
    options: Dict[str, Any]
    workdir: Path
    deadline: Optional[float] = None
    report: Callable[[Candidate], None] = lambda c: None
    log: Callable[[str], None] = print
    candidates: List[Candidate] = field(default_factory=list)
    #: Memory the backend may use, in MiB (the spec's ``--memory``), or None when no limit was set:
    #: pass it to the backend's own knob (H2O ``max_mem_size``, Dask ``memory_limit``, ...).
    memory_mb: Optional[int] = None

    def __post_init__(self) -> None:
        perturb_timing()  # a no-op unless the contract suite asked for it

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def time_left(self) -> float:
        """Seconds until the deadline (infinite under a count budget alone)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    @property
    def cores(self) -> int:
        """Cores the backend may use (the spec's ``--cores``): pass it to the backend's own thread knob."""
        return int(getattr(self.budget, "cores", 1) or 1)

    def trials_left(self) -> float:
        return float("inf") if self.budget.trials is None else self.budget.trials - len(self.candidates)

    def should_stop(self) -> bool:
        return self.trials_left() <= 0 or self.time_left() <= 0

    def add_candidate(self, algorithm: str, params: Dict[str, Any], fold_scores: List[Optional[float]],
                      steps: Optional[List[str]] = None, fit_time_s: Optional[float] = None,
                      **info: Any) -> Candidate:
        """Record and stream one candidate; returns it with its index."""
        cand = Candidate(index=len(self.candidates), algorithm=algorithm, params=params,
                         steps=list(steps or []), fold_scores=[None if s is None else float(s) for s in fold_scores],
                         fit_time_s=fit_time_s, info=info)
        self.candidates.append(cand)
        self.report(cand)
        return cand

    def cross_validate(self, fit_predict: Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray]
                       ) -> List[float]:
        """Score ``fit_predict(X_fit, y_fit, X_valid) -> predictions`` on every fold, in fold order."""
        scores = []
        for fit_idx, valid_idx in self.folds:
            pred = fit_predict(self.X.iloc[fit_idx], self.y[fit_idx], self.X.iloc[valid_idx])
            scores.append(self.metric(self.y[valid_idx], pred))
        return scores

    def best_index(self) -> Optional[int]:
        """The candidate with the best mean fold score under the spec's metric; complete candidates first.

        Candidates scored on every fold rank before those with a missing or failed
        (non-finite) fold, so a NaN fold score can never win."""
        best = None
        for c in self.candidates:
            s = c.cv_score
            if s is None:
                continue
            if best is None:
                best = c.index
                continue
            b = self.candidates[best]
            # A candidate with a missing or failed (NaN) fold never beats one scored on every fold.
            if (c.complete, ) > (b.complete, ) or \
                    (c.complete == b.complete and self.metric.better(s, b.cv_score)):
                best = c.index
        return best


@dataclass
class SearchResult:
    """What ``search`` returns: the fitted model (refit on all of ``X``) and the chosen candidate."""

    model: Any
    chosen: Optional[int] = None
    info: Dict[str, Any] = field(default_factory=dict)
    #: Optional out-of-fold predictions of the chosen candidate on ``task.folds``: row ``i`` of ``task.X``
    #: predicted by a model fitted without ``i``'s fold, shaped like ``predict``'s output. None: the worker
    #: refits the chosen candidate per fold from ``candidate_source`` (see ``automux.core.run.oof``).
    oof: Optional[np.ndarray] = None


class Adapter:
    """Base class of every backend adapter. Subclass it and set the class attributes.

    Attributes:
        name: the backend name users type (``--backend NAME``).
        capabilities: what it declares it can do.
        environment: where it runs.
    """

    name: str = ""
    capabilities: Capabilities = Capabilities()
    environment: Environment = Environment()
    #: The option keys ``--option KEY=VALUE`` may set; any other key is refused by ``check_options``.
    accepted_options: Tuple[str, ...] = ()
    #: True: any key is accepted (the adapter passes options through and checks them itself).
    free_form_options: bool = False

    def unavailable_reason(self) -> Optional[str]:
        """Why this adapter cannot run here, or None. Must not import the backend.

        An isolated env (``environment.name`` not ``main``) is available when it
        is built or can be built (an interpreter for its range can be had); a
        ``main`` adapter, when every ``import_names`` module is importable.
        """
        if self.environment.name != "main":
            # Parent-side only (the worker never calls this): the env builder stays out of the worker's imports.
            build = importlib.import_module("automux.core.env.build")
            return build.unavailable_reason(self.environment)
        missing = [m for m in self.environment.import_names if importlib.util.find_spec(m) is None]
        if missing:
            extra = self.environment.extra or self.name
            return f"not installed: {', '.join(missing)} (pip install 'automux[{extra}]')"
        return None

    def check_options(self, options: Dict[str, Any]) -> None:
        """Refuse bad backend options before any worker starts (the parent calls this).

        The base refuses every key outside ``accepted_options`` (unless
        ``free_form_options``); overrides add value checks.

        Raises:
            SpecError: an unknown option or a bad value, saying what to pass instead.
        """
        if self.free_form_options:
            return
        unknown = sorted(set(options) - set(self.accepted_options))
        if unknown:
            from .errors import SpecError

            known = ", ".join(self.accepted_options) if self.accepted_options else "none"
            raise SpecError(f"backend {self.name!r} has no option {unknown[0]!r} (its options: {known})")

    def validate(self, task: SearchTask) -> None:
        """Refuse tasks and data the adapter did not declare.

        Raises:
            UnsupportedTask: the task is not in ``capabilities.tasks``.
            UnsupportedData: categorical or missing values present but undeclared.
        """
        caps = self.capabilities
        if task.task not in caps.tasks:
            raise UnsupportedTask(f"{self.name} does not support {task.task} tasks (it supports {', '.join(caps.tasks)})")
        if not caps.categorical:
            cats = [c for c in task.X.columns if isinstance(task.X[c].dtype, pd.CategoricalDtype)]
            if cats:
                raise UnsupportedData(f"{self.name} does not handle categorical columns: {', '.join(cats[:5])}")
        if not caps.missing_values and bool(task.X.isna().to_numpy().any()):
            raise UnsupportedData(f"{self.name} does not handle missing values")

    def start_up(self, task: SearchTask) -> Dict[str, Any]:
        """Import the backend and start what it runs on (a JVM, a Dask cluster) before the budget clock starts.

        The worker calls this once, before ``search``, and times it as ``durations.startup``: it is
        bounded by the spec's start-up cap, not by the seconds budget, which starts when this returns
        (as native use and TabArena leave warm-up untimed). Returns facts for the record (for
        example ``{"warm": True}`` when a runtime was reused). The default imports nothing.
        """
        return {}

    def shut_down(self) -> None:
        """Stop what ``start_up`` started. The worker calls it once after search, save and predict,
        however they ended. The default does nothing."""

    def search(self, task: SearchTask) -> SearchResult:
        """Search within the budget; report candidates; return the refit chosen model."""
        raise NotImplementedError

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` or regression values ``(n,)``."""
        raise NotImplementedError

    def save(self, model: Any, path: Path) -> None:
        """Write ``model`` under the directory ``path`` (which exists)."""
        raise NotImplementedError

    def load(self, path: Path) -> Any:
        """Read back what ``save`` wrote."""
        raise NotImplementedError

    #: Why this backend's candidates cannot be rebuilt explicitly (a string), or None. Adapters whose refusal
    #: depends on the candidate define a method ``rebuild_refusal(candidate, task, columns) -> Optional[str]``
    #: instead. ``automux promote`` refuses such candidates with this reason (code ``not_rebuildable``).
    rebuild_refusal: Optional[str] = None

    def candidate_source(self, candidate: Candidate, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        """Standalone Python source that rebuilds ``candidate`` explicitly, or None.

        The source must import only scikit-learn (and the model's own library,
        e.g. LightGBM), never automux or the AutoML backend, and define
        ``build_model()`` returning an unfitted estimator that accepts the raw
        feature frame (``columns`` maps each column to ``numeric`` or
        ``categorical``; categoricals arrive as strings with NaN for missing).
        None means the backend's own model is the only rebuild (said so on promotion), unless
        ``rebuild_refusal`` gives the reason no rebuild can exist: then promotion refuses.
        """
        return None

    def describe(self) -> Dict[str, Any]:
        return {"name": self.name, "capabilities": self.capabilities.to_json(),
                "env": self.environment.to_json()}
