"""The public library API: every CLI command has its twin here."""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

import pandas as pd

from .core import plugins, registry
from .core.adapter import Adapter
from .core.errors import SpecError
from .core.experiment.prepare import DEFAULT_FOLDS, DEFAULT_SEED, DEFAULT_TEST_SIZE, Experiment, make_budget, prepare
from .core.experiment.record import RunRecord
from .core.run.execute import ProgressFn, execute
from .core.run.interrupts import signals_as_interrupts
from .core.run.leaderboard import leaderboard
from .core.run.verify import compare_records, experiment_from_record
from .core.experiment.spec import Spec
from .core.run.store import RunStore

DataLike = Union[str, pd.DataFrame]
F = TypeVar("F", bound=Callable[..., Any])


def _interruptible(fn: F) -> F:
    """SIGINT, SIGTERM and SIGHUP during the call store the run in flight as ``interrupted``, then raise.

    The exception is :class:`automux.core.run.interrupts.Interrupted` (a
    ``KeyboardInterrupt``). Off the main thread signals cannot be caught: the
    call runs as it is.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with signals_as_interrupts():
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def _store(store: Union[str, RunStore, None]) -> RunStore:
    return store if isinstance(store, RunStore) else RunStore(store)


def experiment(data: DataLike, target: Optional[str] = None, *, budget_trials: Optional[int] = None,
               budget_seconds: Optional[float] = None, seed: int = DEFAULT_SEED, folds: int = DEFAULT_FOLDS,
               test_size: float = DEFAULT_TEST_SIZE, metric: Optional[str] = None, task: Optional[str] = None,
               split: Optional[Dict[str, Any]] = None, grace_s: Optional[float] = None,
               timeout_s: Optional[float] = None, cores: Optional[Union[int, str]] = None,
               drop: Optional[Sequence[str]] = None,
               drop_missing_target: bool = False, startup_timeout_s: Optional[float] = None,
               memory: Optional[Union[int, str]] = None) -> Experiment:
    """Fix data, split, metric, seeds and budget before any backend runs.

    ``timeout_s`` is the wall cap every run has, count budgets included (default
    one hour: :data:`automux.core.experiment.budget.DEFAULT_TIMEOUT_S`). ``drop``
    names columns removed before the fingerprint (an id or a leaking column);
    ``drop_missing_target`` drops rows without a target instead of refusing them.
    ``cores`` (default 1, or ``"all"``) is what every backend may use, recorded in the spec.
    ``memory`` (``"4G"``, ``"512M"``, ``"all"``, an int of MiB; default 75 % of this machine:
    :data:`automux.core.experiment.memory.DEFAULT_SHARE`) is what the worker's processes may hold,
    recorded in the spec; a run that holds more ends ``failed``, its candidates kept.
    A seconds budget is search time: the clock starts when the worker is ready (backend imported,
    its runtime up); ``startup_timeout_s`` caps that start-up (default 120 s:
    :data:`automux.core.experiment.budget.DEFAULT_STARTUP_TIMEOUT_S`).
    Both are recorded in the spec and applied again by ``verify`` and ``predict``.
    """
    if data is None:
        from .core.errors import DataError
        raise DataError("no data given: pass a CSV / Parquet path, a bundled source such as sklearn:iris, "
                        "or a pandas DataFrame")
    return prepare(data, target, budget=make_budget(budget_trials, budget_seconds, grace_s, timeout_s, cores,
                                                      startup_timeout_s=startup_timeout_s, memory=memory),
                   seed=seed,
                   folds=folds, test_size=test_size, metric=metric, task=task, split=split, drop=drop,
                   drop_missing_target=drop_missing_target)


def _governed(exp: Experiment, readiness: bool, progress: Optional[ProgressFn]) -> Dict[str, Any]:
    """Readiness check once per experiment; returns ``execute`` kwargs that record it and the gain.

    The readiness verdict and warnings go into ``record.extra["readiness"]``; the
    gain of the chosen candidate over the stronger baseline, on the same folds,
    into ``record.extra["gain"]`` (``fragile`` when inside the fold-to-fold noise).
    """
    if not readiness:
        return {}
    from .governance import gain as gain_mod
    from .governance.readiness import check as check_readiness

    ready = check_readiness(exp)
    if progress is not None:
        progress("readiness", {"readiness": ready.to_json()})
    return {"extra": {"readiness": ready.to_json()},
            "finalize": lambda record: {"gain": gain_mod.compute(record, ready)}}


@_interruptible
def run(data: DataLike, target: Optional[str] = None, backend: Union[str, Adapter] = "reference", *,
        options: Optional[Dict[str, Any]] = None, store: Union[str, RunStore, None] = None,
        inline: bool = False, progress: Optional[ProgressFn] = None, constraints: Optional[Any] = None,
        readiness: bool = True, build: bool = True, **experiment_args: Any) -> RunRecord:
    """One run under the contract; returns its stored record (status may be non-ok).

    ``readiness`` runs the readiness check first (baselines on the same folds,
    data and leakage warnings) and records it with the run's gain over the
    baseline. ``build=False`` refuses to build a missing isolated env.
    ``backend="auto"`` follows the strategy the committed evidence supports
    (``automux.select.strategy``: today the selector's top choice among the
    installed backends it keeps under ``constraints``, a ``select.Constraints``;
    the budget comes from the experiment) and records the selector's ranking with
    its reasons and the strategy's pick in ``record.extra["selection"]``.

    ``experiment_args`` are those of :func:`experiment` (budget_trials,
    budget_seconds, seed, folds, test_size, metric, task, split, grace_s, timeout_s, cores, drop,
    drop_missing_target, startup_timeout_s).

    Raises:
        DataError, SpecError, BackendNotFound, BackendUnavailable: bad input.
    """
    exp = experiment(data, target, **experiment_args)
    selection: Dict[str, Any] = {}
    if backend == "auto":
        backend, selection = _auto_backend(exp, data, target, constraints, experiment_args.get("drop"),
                                           bool(experiment_args.get("drop_missing_target")))
    # an unknown name or a bad option fails before the readiness check
    adapter = registry.get_adapter(backend) if isinstance(backend, str) else backend
    adapter.check_options(dict(options or {}))
    governed = _governed(exp, readiness, progress)
    extra = dict(governed.pop("extra", {}), **selection)
    return execute(exp, backend, options=options, store=_store(store), inline=inline, progress=progress,
                   extra=extra, build=build, **governed)


def _auto_backend(exp: Experiment, data: DataLike, target: Optional[str],
                  constraints: Optional[Any], drop: Optional[Sequence[str]] = None,
                  drop_missing_target: bool = False) -> Tuple[str, Dict[str, Any]]:
    """The selector's top choice among installed backends, and the selection to record."""
    import dataclasses

    from .select import Constraints, select

    budget = exp.spec.budget
    base = constraints or Constraints()
    c = dataclasses.replace(base, time_budget_s=budget.seconds, trials=budget.trials, installed_only=True)
    sel = select(data, target, c, task=exp.dataset.task, drop=drop, drop_missing_target=drop_missing_target)
    if sel.choice is None:
        reasons = "; ".join(f"{e['backend']}: {e['reason']}" for e in sel.excluded)
        raise SpecError(f"--backend auto found no backend that fits: {reasons}")
    from .select.strategy import pick

    choice, strategy = pick(sel, c)
    return choice, {"selection": dict(sel.to_json(), strategy=strategy)}


@_interruptible
def compare(data: DataLike, target: Optional[str] = None, backends: Sequence[str] = ("reference",), *,
            options: Optional[Dict[str, Dict[str, Any]]] = None, store: Union[str, RunStore, None] = None,
            inline: bool = False, progress: Optional[ProgressFn] = None, readiness: bool = True,
            build: bool = True, jobs: int = 1, executor: str = "local", scheduler: Optional[str] = None,
            oof: bool = False, ensemble: bool = False, warm: bool = True,
            **experiment_args: Any) -> Tuple[Spec, List[RunRecord]]:
    """The same spec on several backends; returns the spec and the leaderboard (best first).

    ``options`` maps a backend name to its options. Every backend is checked
    before any runs, so a typo fails fast. ``jobs`` runs that many backends side
    by side; ``executor="dask"`` with ``scheduler="tcp://HOST:PORT"`` sends each
    backend's run to an existing Dask cluster (see :mod:`automux.executors`);
    the records are the same as a sequential compare's. ``oof=True`` (``compare
    --ensemble``) has each run refit its chosen candidate per fold after its search,
    outside its budget, where the backend gives no out-of-fold predictions itself.
    ``ensemble=True`` (``compare --ensemble``) implies ``oof`` and then stores a greedy
    ensemble of the ok runs as a run, appended last to the returned records (none when
    fewer than two ok runs have out-of-fold predictions). ``warm`` (``--no-warm``: False) keeps a
    backend's runtime (H2O's JVM) up across its runs where a backend is named more than once
    (:mod:`automux.core.run.warm`; the record's ``extra.startup.warm`` says so); never on Dask.
    """
    oof = oof or ensemble
    if not backends:
        raise SpecError("no backends given: pass --backends A,B,...")
    if isinstance(backends, str):  # not iterated per character ("unknown backend 'r'")
        raise SpecError(f"backends {backends!r}: give a list of backend names, e.g. [{backends!r}]")
    exp = experiment(data, target, **experiment_args)
    adapters = [registry.get_adapter(b) for b in backends]
    from .core.env.worker_env import ensure_env
    from .core.errors import BackendUnavailable

    for a in adapters:
        reason = a.unavailable_reason()
        if reason:
            raise BackendUnavailable(f"backend {a.name!r} cannot run here: {reason}")
        a.check_options(dict((options or {}).get(a.name) or {}))
    for a in adapters:  # isolated envs are built (or refused under build=False) before any backend runs
        ensure_env(a.environment, build=build, adapter_name=a.name)
    the_store = _store(store)
    governed = _governed(exp, readiness, progress)
    from .executors import compare_all

    records = compare_all(exp, adapters, store=the_store, options=dict(options or {}), jobs=jobs, executor=executor,
                          scheduler=scheduler, inline=inline, progress=progress, build=build, oof=oof, warm=warm,
                          **governed)
    board = leaderboard(records)
    if ensemble:
        from .governance.ensemble import ensemble_of
        ens = ensemble_of(board, store=the_store)
        board = board + ([ens] if ens is not None else [])
    return exp.spec, board


@_interruptible
def verify(run_id: str, *, store: Union[str, RunStore, None] = None, data: Optional[DataLike] = None,
           inline: bool = False, progress: Optional[ProgressFn] = None) -> Dict[str, Any]:
    """Re-run a recorded spec on the same backend and compare.

    Returns ``{run_id, rerun_id, verdict, details}`` with verdict ``identical``,
    ``within_tolerance`` or ``different``.
    """
    the_store = _store(store)
    record = the_store.load(run_id)
    # An ensemble has no search to re-run: it is re-selected from its members' stored out-of-fold predictions.
    from .governance.ensemble import ENSEMBLE_BACKEND, verify_ensemble
    if record.backend == ENSEMBLE_BACKEND:
        return verify_ensemble(run_id, store=the_store, data=data)
    exp = experiment_from_record(record, the_store, data=data)
    rerun = execute(exp, record.backend, options=record.backend_options, store=the_store, inline=inline,
                    progress=progress, extra={"verifies": run_id})
    # (no readiness check on a rerun: the experiment is the recorded one)
    out = compare_records(record, rerun, the_store)
    return {"run_id": run_id, "rerun_id": rerun.run_id, **out}


def backends() -> List[Dict[str, Any]]:
    """Adapters found, whether each can run here and why not, and the distribution each came from.

    Imports no backend. See :func:`automux.core.registry.describe`.
    """
    return registry.describe()


def plugin_failures() -> List[Dict[str, str]]:
    """Plugins that failed to load, with the error: reported, never fatal."""
    return [{"plugin": n, "error": e} for n, e in plugins.load_failures()]


def runs(store: Union[str, RunStore, None] = None, backend: Optional[str] = None,
         promoted: bool = False, spec_id: Optional[str] = None, data: Optional[str] = None) -> List[Dict[str, Any]]:
    """Index rows of the run store, oldest first (``automux runs list``).

    ``promoted`` keeps runs with a promoted candidate, ``spec_id`` the runs of one spec,
    ``data`` those whose data source or fingerprint (or a prefix of it) is ``data``.
    """
    return _store(store).list(backend=backend, promoted=promoted, spec_id=spec_id, data=data)


def runs_leaderboard(spec_id: str, *, store: Union[str, RunStore, None] = None) -> List[RunRecord]:
    """Every ok run of one spec, best hold-out score first (``automux runs leaderboard``), runs added later too."""
    the_store = _store(store)
    rows = the_store.list(spec_id=spec_id)
    if not rows:
        raise SpecError(f"no run of spec {spec_id!r} in the store {the_store.root} (see `automux runs list`)")
    return [r for r in leaderboard([the_store.load(row["run_id"]) for row in rows]) if r.status == "ok"]


def delete_runs(run_ids: Sequence[str], *, store: Union[str, RunStore, None] = None,
                dry_run: bool = False) -> Dict[str, Any]:
    """Delete runs and then the stored data no remaining run uses (``automux runs delete``).

    Every id is checked before anything is removed (an unknown one raises ``RunNotFound``).
    Returns ``{deleted, data_removed, bytes_freed, dry_run}``; ``dry_run`` deletes nothing.
    """
    from .core.run.pruning import delete_runs as delete
    return delete(_store(store), run_ids, dry_run=dry_run)


def prune_runs(*, store: Union[str, RunStore, None] = None, keep_last: Optional[int] = None,
               status: Optional[Sequence[str]] = None, older_than_days: Optional[float] = None,
               dry_run: bool = False) -> Dict[str, Any]:
    """Delete the runs every given rule selects (``automux runs prune``); promoted runs are kept.

    ``keep_last`` spares the newest N runs, ``status`` selects those statuses, ``older_than_days``
    runs created before then. ``dry_run`` deletes nothing. Returns ``{deleted, data_removed,
    bytes_freed, dry_run}`` (a dry run's ``bytes_freed`` counts the run directories only).
    """
    from .core.run.pruning import prune
    return prune(_store(store), keep_last=keep_last, status=status, older_than_days=older_than_days,
                 dry_run=dry_run)


def predict(run_id: str, data: DataLike, *, store: Union[str, RunStore, None] = None,
            build: bool = True, out: Optional[str] = None, timeout_s: Optional[float] = None) -> Dict[str, Any]:
    """Predictions from a stored model, run in the env that trained it (``automux predict``).

    ``out`` also writes the predictions CSV there; ``timeout_s`` caps the prediction job.
    """
    from .predicting import predict as predict_run  # the one dispatch: an ensemble predicts through its members
    return predict_run(run_id, data, store=_store(store), build=build, out=out, timeout_s=timeout_s)


def ensemble(run_ids: Sequence[str], *, store: Union[str, RunStore, None] = None, size: int = 25,
             data: Optional[DataLike] = None) -> RunRecord:
    """``automux ensemble``: greedy ensemble selection (Caruana) over stored runs of one spec, stored as a run.

    See :func:`automux.governance.ensemble.build_ensemble`.
    """
    from .governance.ensemble import build_ensemble
    return build_ensemble(run_ids, store=_store(store), size=size, data=data)


def check(data: DataLike, target: Optional[str] = None, **kwargs: Any) -> Any:
    """Readiness before AutoML (``automux check``): baselines, warnings, verdict.

    ``kwargs``: seed, folds, test_size, metric, task, split, leakage. Returns a
    ``governance.readiness.Readiness``.
    """
    from .governance.readiness import check_data
    return check_data(data, target, **kwargs)


@_interruptible
def promote(run_id: str, *, store: Union[str, RunStore, None] = None, candidate: Optional[int] = None,
            seeds: int = 5, data: Optional[DataLike] = None, timeout_s: Optional[float] = None) -> Dict[str, Any]:
    """Rebuild a candidate explicitly, re-validate it over ``seeds`` seeds, then promote or refuse.

    ``timeout_s`` caps the rebuild (default: governance.promote's).
    """
    from .governance.promote import promote as promote_run
    kw = {} if timeout_s is None else {"timeout_s": timeout_s}
    return promote_run(run_id, store=_store(store), candidate=candidate, seeds=seeds, data=data, **kw)


def load_run(run_id: str, store: Union[str, RunStore, None] = None) -> RunRecord:
    return _store(store).load(run_id)
