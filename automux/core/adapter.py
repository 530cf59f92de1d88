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
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pandas as pd

from .experiment.budget import Budget
from .capabilities import Capabilities, Environment
from .errors import BudgetExhausted, UnsupportedData, UnsupportedTask
from .experiment.metrics import Metric
from .experiment.spec import Candidate


#: Set (by the contract suite) in a worker's environment: jitter every ``time.sleep`` and switch threads often.
PERTURB_ENV = "AUTOMUX_PERTURB_TIMING"
#: Most seconds added to one ``time.sleep`` call under ``PERTURB_ENV``.
PERTURB_MAX_JITTER_S = 0.5


#: Share of the grace the first candidate may use past the deadline when none has finished yet (the rest is
#: for its refit, saving and predicting before the parent's hard stop).
FIRST_CANDIDATE_GRACE_SHARE = 0.5


class TrialOutOfTime(BaseException):
    """Internal: the seconds budget ended inside a trial (``cross_validate(stop_at_deadline=True)`` raised it).

    A ``BaseException`` so that a backend's or an adapter's ``except Exception`` never swallows it: the
    adapter catches it by name, drops the unfinished trial and ends its search with the best so far."""


@contextmanager
def _alarm_at(when: Optional[float], make_exc: Callable[[], BaseException]) -> Iterator[None]:
    """Raise ``make_exc()`` in the main thread at ``time.monotonic()`` value ``when`` (a SIGALRM timer).

    Interrupts a fit between two bytecodes (between trees, boosting rounds, solver iterations). A no-op off
    the main thread, without ``setitimer``, or with ``when`` None; raises at once when ``when`` has passed."""
    if when is None or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    delay = when - time.monotonic()
    if delay <= 0:
        raise make_exc()

    def ring(_signum: int, _frame: Any) -> None:
        raise make_exc()

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, delay)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
    #: The warm runtime a compare or bench lent this run (``automux.core.run.warm``: identity, runs served),
    #: or None: the adapter starts its own in ``start_up``.
    warm: Optional[Dict[str, Any]] = None
    #: (index, array): the out-of-fold predictions of the best candidate so far (see :meth:`keep_oof`).
    _best_oof: Optional[Tuple[int, np.ndarray]] = field(default=None, repr=False)

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

    def cross_validate(self, fit_predict: Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray],
                       return_oof: bool = False, stop_at_deadline: bool = False) -> Any:
        """Score ``fit_predict(X_fit, y_fit, X_valid) -> predictions`` on every fold, in fold order.

        Returns the fold scores, or ``(scores, oof)`` with ``return_oof``: the validation predictions
        assembled into one array shaped like ``predict``'s output on ``X`` (rows in no validation fold stay
        NaN), made by fold models that never saw the row's fold (give it to :meth:`keep_oof`).

        ``stop_at_deadline`` (seconds budgets): once a candidate has finished, the trial is cut with
        :class:`TrialOutOfTime` at :meth:`search_deadline` (between folds when the folds done so far project
        past it, and inside a fold by a timer); before any has, the first candidate may run until the deadline
        plus ``FIRST_CANDIDATE_GRACE_SHARE`` of the grace, then :class:`BudgetExhausted` says how long it ran.
        """
        scores: List[float] = []
        oof: Optional[np.ndarray] = None
        t0 = time.monotonic()
        for k, (fit_idx, valid_idx) in enumerate(self.folds):
            stop = self.search_deadline() if stop_at_deadline else None
            if stop is not None and k and t0 + (time.monotonic() - t0) * len(self.folds) / k > stop:
                raise self._out_of_time(t0, k, projected=True)
            with _alarm_at(stop, lambda: self._out_of_time(t0, k)):
                pred = fit_predict(self.X.iloc[fit_idx], self.y[fit_idx], self.X.iloc[valid_idx])
            scores.append(self.metric(self.y[valid_idx], pred))
            if return_oof:
                pred = np.asarray(pred, dtype=np.float64)
                if oof is None:
                    oof = np.full((len(self.X),) + pred.shape[1:], np.nan, dtype=np.float64)
                oof[valid_idx] = pred
        return (scores, oof) if return_oof else scores

    def finished(self) -> bool:
        """Whether at least one candidate has a score (a best so far exists)."""
        return any(c.cv_score is not None for c in self.candidates)

    def refit_estimate_s(self, index: int) -> float:
        """Seconds a refit of candidate ``index`` on all of ``X`` should take: its fold fits' time spread
        over ``k - 1`` folds (each fold fit sees ``(k-1)/k`` of the rows, the refit all of them)."""
        cand = self.candidates[index]
        return float(cand.fit_time_s or 0.0) / max(1, len(self.folds) - 1)

    def search_deadline(self) -> Optional[float]:
        """The ``time.monotonic()`` value trials must end by (None without a seconds budget).

        With a finished candidate: the deadline less the refit time of the best so far (the refit fits in the
        budget). Before any: the deadline plus ``FIRST_CANDIDATE_GRACE_SHARE`` of the grace."""
        if self.deadline is None:
            return None
        best = self.best_index()
        if best is None:
            return self.deadline + FIRST_CANDIDATE_GRACE_SHARE * float(getattr(self.budget, "grace_s", 0.0))
        return self.deadline - self.refit_estimate_s(best)

    def search_time_left(self) -> float:
        """Seconds until :meth:`search_deadline` (infinite without a seconds budget)."""
        stop = self.search_deadline()
        return float("inf") if stop is None else stop - time.monotonic()

    def _out_of_time(self, t0: float, folds_done: int, projected: bool = False) -> BaseException:
        ran = time.monotonic() - t0
        if self.finished():
            return TrialOutOfTime(f"the seconds budget ended {ran:.1f}s into a trial ({folds_done} of "
                                  f"{len(self.folds)} folds done)")
        need = f", about {ran * len(self.folds) / folds_done:.0f}s in all at that pace" if projected else ""
        return BudgetExhausted(
            f"no candidate finished within the seconds budget ({getattr(self.budget, 'seconds', None):g}s, "
            f"grace {getattr(self.budget, 'grace_s', 0.0):g}s): the first one had run {ran:.1f}s and finished "
            f"{folds_done} of {len(self.folds)} folds{need}; give a larger --budget-seconds or fewer rows")

    def keep_oof(self, candidate: Candidate, oof: Optional[np.ndarray]) -> None:
        """Keep ``oof`` (from ``cross_validate(return_oof=True)``) when ``candidate`` is now the best: only
        the best so far's array is held, never every candidate's."""
        if oof is not None and self.best_index() == candidate.index:
            self._best_oof = (candidate.index, oof)

    def oof_for(self, index: Optional[int]) -> Optional[np.ndarray]:
        """The kept out-of-fold array of candidate ``index`` (for ``SearchResult.oof``), or None."""
        kept = getattr(self, "_best_oof", None)
        return kept[1] if kept is not None and kept[0] == index else None

    def choose(self) -> Optional[int]:
        """The candidate to refit: the best (:meth:`best_index`), unless its refit would not end before the
        hard stop (deadline plus grace) while another finished candidate's would: then the best of those."""
        best = self.best_index()
        if best is None or self.deadline is None:
            return best
        left = self.deadline + float(getattr(self.budget, "grace_s", 0.0)) * FIRST_CANDIDATE_GRACE_SHARE \
            - time.monotonic()
        if self.refit_estimate_s(best) <= left:
            return best
        fits = [c.index for c in self.candidates if c.cv_score is not None and self.refit_estimate_s(c.index) <= left]
        if not fits:
            return best
        return self._best_of([self.candidates[i] for i in fits])

    def best_index(self) -> Optional[int]:
        """The candidate with the best mean fold score under the spec's metric; complete candidates first.

        Candidates scored on every fold rank before those with a missing or failed
        (non-finite) fold, so a NaN fold score can never win."""
        return self._best_of(self.candidates)

    def _best_of(self, candidates: List[Candidate]) -> Optional[int]:
        best: Optional[Candidate] = None
        for c in candidates:
            s = c.cv_score
            if s is None:
                continue
            # A candidate with a missing or failed (NaN) fold never beats one scored on every fold.
            if best is None or c.complete > best.complete or \
                    (c.complete == best.complete and self.metric.better(s, best.cv_score)):
                best = c
        return None if best is None else best.index


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
    #: Value rules of accepted options, as data (``{"n_jobs": "cores"}``; see :mod:`automux.core.option_rules`),
    #: applied by the base ``check_options`` in the parent, so a bad value is refused before a worker starts.
    option_rules: Dict[str, Any] = {}

    def unavailable_reason(self) -> Optional[str]:
        """Why this adapter cannot run here, or None. Must not import the backend.

        An isolated env (``environment.name`` not ``main``) is available when it
        is built or can be built (an interpreter for its range can be had); a
        ``main`` adapter, when every ``import_names`` module is importable.
        """
        if self.environment.name != "main":
            # Parent-side only (the worker never calls this): the env builder stays out of the worker's imports.
            worker_env = importlib.import_module("automux.core.env.worker_env")
            return worker_env.unavailable_reason(self.environment)
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
        if self.option_rules:
            from .option_rules import check_values  # parent-side only: the worker never checks options
            check_values(self.name, options, self.option_rules)

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
        example ``{"warm": True}`` when a runtime was reused). The default imports the modules the
        adapter's environment declares (``environment.import_names``), so their import is not search time.
        """
        for name in self.environment.import_names:
            importlib.import_module(name)
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
