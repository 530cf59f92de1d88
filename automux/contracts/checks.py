"""The contract checks: one plain ``check_<property>`` function per declared claim.

Each check takes the adapter (and optionally the shared ``ContractContext`` that
caches the runs) and returns a short note when the claim holds, raises
``CheckFailed`` with what it saw when it does not, and ``CheckSkipped`` when it
cannot tell here. ``yield_checks(adapter)`` picks the checks that apply from the
adapter's declared capabilities. Refusals are judged by exception *type*, never
by wording.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Type

import numpy as np

from ..core.run import jobfiles as jf
from ..core.adapter import Adapter
from ..core.capabilities import BUDGET_MODES, PRODUCES, STRENGTHS, TASK_NAMES, Capabilities, Environment
from ..core.errors import SpecError, UnsupportedData, UnsupportedTask
from ..core.experiment.spec import candidates_identity
from . import data, processes
from .context import ContractContext, ContractRun, context_for
from .results import CheckFailed, CheckSkipped

Check = Callable[..., Optional[str]]

#: At least one candidate's odd-fold loss must exceed its other folds' losses by this factor.
ODD_FOLD_RATIO = 1.2
PROBA_SUM_ATOL = 1e-6
IMPORT_CHECK_TIMEOUT_S = 120.0
#: The option key no adapter declares: ``check_options`` must refuse it.
UNDECLARED_OPTION = "automux_contracts_no_such_option"
#: How close the chosen candidate's refit must predict to the returned model.
CHOSEN_RTOL, CHOSEN_ATOL = 1e-5, 1e-6
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _ctx(adapter: Adapter, ctx: Optional[ContractContext]) -> ContractContext:
    return ctx if ctx is not None else context_for(adapter)


def _fail_if(problems: Sequence[str], what: str) -> None:
    if problems:
        raise CheckFailed(f"{what}: " + "; ".join(problems))


def _completed(run: ContractRun, purpose: str) -> None:
    if not run.completed:
        raise CheckFailed(f"the {purpose} run did not finish: {run.describe_failure()}")


# -- declarations --------------------------------------------------------------------------------

def check_capabilities_well_formed(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """``name`` and ``capabilities`` are well-formed data that survive a JSON round trip."""
    problems: List[str] = []
    if not isinstance(adapter.name, str) or not _NAME.match(adapter.name):
        problems.append(f"name {adapter.name!r} is not a plain identifier (letters, digits, _ . -)")
    caps = adapter.capabilities
    if not isinstance(caps, Capabilities):
        raise CheckFailed(f"capabilities is a {type(caps).__name__}, not automux.Capabilities")
    tasks = tuple(caps.tasks) if isinstance(caps.tasks, (tuple, list)) else ()
    if not tasks or any(t not in TASK_NAMES for t in tasks) or len(set(tasks)) != len(tasks):
        problems.append(f"tasks {caps.tasks!r} must be distinct names among {', '.join(TASK_NAMES)}")
    modes = tuple(caps.budget_modes) if isinstance(caps.budget_modes, (tuple, list)) else ()
    if not modes or any(m not in BUDGET_MODES for m in modes):
        problems.append(f"budget_modes {caps.budget_modes!r} must be non-empty, among {', '.join(BUDGET_MODES)}")
    if not isinstance(caps.deterministic, dict):
        problems.append("deterministic must map a budget mode to a bool")
    else:
        for k, v in caps.deterministic.items():
            if k not in BUDGET_MODES or not isinstance(v, bool):
                problems.append(f"deterministic[{k!r}] = {v!r}: keys are budget modes, values bools")
    for flag in ("custom_folds", "categorical", "missing_values", "interpretable", "seeded"):
        if not isinstance(getattr(caps, flag), bool):
            problems.append(f"{flag} = {getattr(caps, flag)!r} is not a bool")
    if caps.produces not in PRODUCES:
        problems.append(f"produces = {caps.produces!r}: choose one of {', '.join(PRODUCES)}")
    if not isinstance(caps.min_budget, dict):
        problems.append("min_budget must map each budget mode to a positive number")
    else:
        for m in modes:
            v = caps.min_budget.get(m)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                problems.append(f"min_budget[{m!r}] = {v!r}: give a positive number for every budget mode")
            elif m == "trials" and float(v) != int(v):
                problems.append(f"min_budget['trials'] = {v!r} is not a whole number")
    if caps.distributed is not None and (not isinstance(caps.distributed, str) or not caps.distributed):
        problems.append(f"distributed = {caps.distributed!r}: None or a non-empty name")
    if not isinstance(caps.strengths, (tuple, list)) or not all(isinstance(s, str) for s in caps.strengths):
        problems.append("strengths must be a tuple of strings")
    else:
        unknown = [s for s in caps.strengths if s not in STRENGTHS]
        if unknown:
            problems.append(f"strengths {unknown}: choose from {', '.join(STRENGTHS)}")
    if caps.interpretable is True and caps.produces in ("ensemble", "stack"):
        problems.append(f"interpretable = True with produces = {caps.produces!r}: an ensemble is not interpretable")
    try:
        json.loads(json.dumps(caps.to_json()))
    except (TypeError, ValueError) as e:
        problems.append(f"capabilities do not serialise to JSON ({e})")
    _fail_if(problems, "malformed capabilities")
    return f"{len(tasks)} tasks, budget modes {', '.join(modes)}"


def _bad_specifier(spec: str) -> Optional[str]:
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - packaging is near-universal
        ok = all(re.match(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*[0-9][0-9A-Za-z.*+!-]*\s*$", part)
                 for part in spec.split(","))
        return None if ok else "not a version specifier"
    try:
        SpecifierSet(spec)
    except InvalidSpecifier as e:
        return str(e)
    return None


def _admits_this_python(spec: str) -> bool:
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pragma: no cover
        return True
    return "{}.{}.{}".format(*sys.version_info[:3]) in SpecifierSet(spec)


def _bad_requirement(req: str) -> Optional[str]:
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover
        return None if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*", req) else "not a requirement"
    try:
        Requirement(req)
    except InvalidRequirement as e:
        return str(e)
    return None


def check_environment_well_formed(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """The environment recipe parses, admits this interpreter when it is ``main``, and can be checked."""
    env = adapter.environment
    if not isinstance(env, Environment):
        raise CheckFailed(f"environment is a {type(env).__name__}, not automux.Environment")
    problems: List[str] = []
    if not isinstance(env.name, str) or not _NAME.match(env.name):
        problems.append(f"env name {env.name!r} is not a plain identifier")
    bad = _bad_specifier(env.python) if isinstance(env.python, str) else "not a string"
    if bad:
        problems.append(f"python = {env.python!r} is not a version specifier ({bad})")
    elif env.name == "main" and not _admits_this_python(env.python):
        here = "{}.{}.{}".format(*sys.version_info[:3])
        problems.append(f"the main env runs Python {here}, which python = {env.python!r} excludes")
    for req in env.requirements:
        bad = _bad_requirement(req) if isinstance(req, str) else "not a string"
        if bad:
            problems.append(f"requirement {req!r} does not parse ({bad})")
    if env.name != "main" and not env.requirements:
        problems.append(f"the isolated env {env.name!r} lists no requirements to build it from")
    for mod in env.import_names:
        if not isinstance(mod, str) or not _MODULE.match(mod):
            problems.append(f"import name {mod!r} is not a module path")
    try:
        reason = adapter.unavailable_reason()
        if reason is not None and not isinstance(reason, str):
            problems.append(f"unavailable_reason() returned {reason!r}, not None or a string")
    except Exception as e:  # noqa: BLE001 - any exception is the finding
        problems.append(f"unavailable_reason() raised {type(e).__name__}: {e}")
    try:
        json.loads(json.dumps(env.to_json()))
    except (TypeError, ValueError) as e:
        problems.append(f"environment does not serialise to JSON ({e})")
    _fail_if(problems, "malformed environment")
    return f"env {env.name} (python {env.python})"


_imported: Dict[str, Set[str]] = {}


def _modules_imported_by(module: str) -> Set[str]:
    """Every module in ``sys.modules`` after importing ``module`` in a fresh interpreter (cached)."""
    if module not in _imported:
        code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
                "print(json.dumps(sorted(sys.modules)))")
        proc = subprocess.run([sys.executable, "-c", code, module], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=IMPORT_CHECK_TIMEOUT_S)
        if proc.returncode != 0:
            raise CheckFailed(f"importing {module} in a fresh interpreter failed: "
                              f"{proc.stderr.decode(errors='replace')[-800:]}")
        _imported[module] = set(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
    return _imported[module]


def check_import_is_light(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Importing the adapter's module in a fresh interpreter imports none of its backend modules."""
    module = type(adapter).__module__
    if module in ("__main__", "builtins"):
        raise CheckFailed(f"the adapter class lives in {module}: the worker imports adapters by module path, "
                          "so define it in an importable module")
    heavy = sorted({m.split(".")[0] for m in adapter.environment.import_names})
    loaded = _modules_imported_by(module)
    pulled = [m for m in heavy if m in loaded]
    if pulled:
        raise CheckFailed(f"importing {module} imports {', '.join(pulled)}: import backend libraries inside "
                          "the adapter's methods, so listing backends stays fast")
    return f"{module} imports none of {', '.join(heavy) or '(no import names declared)'}"


# -- refusals ------------------------------------------------------------------------------------

def _expect_refusal(ctx: ContractContext, what: str, expected: Type[BaseException], key: str, frame: Any,
                    split: Any, task: str) -> str:
    """``validate`` (or, failing that, the worker) must raise ``expected`` for this data."""
    adapter = ctx.adapter
    exp = ctx.experiment(frame, split, task, ctx.config.seeds[0],
                         ctx.budget_args(ctx.base_mode(), trials=ctx.side_trials()))
    try:
        adapter.validate(ctx.search_task(exp, key))
    except expected:
        return f"{what}: validate raised {expected.__name__}"
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(f"{what}: validate raised {type(e).__name__} ({e}); expected {expected.__name__}")
    run = ctx.run(("refuse", key), lambda: exp)
    got = run.record.extra.get("error_type")
    if run.record.status == "failed" and got == expected.__name__:
        return f"{what}: the run raised {expected.__name__}"
    raise CheckFailed(f"{what}: validate accepted it and the run ended {run.record.status}"
                      + (f" with {got}" if got else "") + f"; expected {expected.__name__}")


def check_unsupported_tasks_refused(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Every task not declared is refused with ``UnsupportedTask``."""
    ctx = _ctx(adapter, ctx)
    undeclared = [t for t in TASK_NAMES if t not in ctx.declared_tasks()]
    if not undeclared:
        raise CheckSkipped("every task is declared")
    notes = []
    for task in undeclared:
        frame, split = data.plain(task)
        notes.append(_expect_refusal(ctx, f"a {task} task", UnsupportedTask, f"task-{task}", frame, split, task))
    return "; ".join(notes)


def check_categorical_rejected(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Categorical columns, not declared, are refused with ``UnsupportedData``."""
    ctx = _ctx(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_categorical(task)
    return _expect_refusal(ctx, "a categorical column", UnsupportedData, "categorical", frame, split, task)


def check_missing_values_rejected(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Missing feature values, not declared, are refused with ``UnsupportedData``."""
    ctx = _ctx(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_missing(task)
    return _expect_refusal(ctx, "missing values", UnsupportedData, "missing", frame, split, task)


# -- declared data support -----------------------------------------------------------------------

def _supported(ctx: ContractContext, name: str, frame: Any, split: Any, task: str, what: str) -> str:
    run = ctx.side_run(name, task, frame, split)
    _completed(run, f"{what} data")
    pred = run.predictions()
    n = len(run.experiment.split.holdout)
    shape = (n,) if task == "regression" else (n, len(run.experiment.dataset.classes))
    if pred is None or pred.shape != shape:
        raise CheckFailed(f"on {what} data the predictions have shape {None if pred is None else pred.shape}, "
                          f"expected {shape}")
    if not np.all(np.isfinite(pred)):
        raise CheckFailed(f"on {what} data {int(np.sum(~np.isfinite(pred)))} predictions are not finite")
    if not run.record.candidates:
        raise CheckFailed(f"on {what} data the run proposed no candidate")
    return f"{len(run.record.candidates)} candidates, finite predictions on {what} data"


def check_categorical_supported(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Declared categorical support: a run on data with a string column completes with finite predictions."""
    ctx = _ctx(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_categorical(task)
    return _supported(ctx, "categorical", frame, split, task, "categorical")


def check_missing_values_supported(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Declared missing-value support: a run on data with NaNs completes with finite predictions."""
    ctx = _ctx(adapter, ctx)
    task = ctx.main_task()
    frame, split = data.with_missing(task)
    return _supported(ctx, "missing", frame, split, task, "missing-value")


# -- folds, budgets, seeds, determinism ----------------------------------------------------------

def _marked_failed(c: Any) -> bool:
    """A candidate the adapter reported as failed: ``info["error"]`` or a failed (non-finite) fold."""
    return bool(c.info.get("error") or c.info.get("failed_folds"))


def check_given_folds_used(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Candidates are scored on the given folds: the fold plan's odd fold shows in every candidate.

    The plan has 3 interleaved folds of unequal size whose fold 2 breaks the
    pattern (see ``automux.contracts.data``): each candidate must report 3 fold
    scores with fold 2 its worst (unless all are equal: a uniform predictor says
    nothing), and at least one candidate must show fold 2 worse by a clear factor.
    A candidate with no fold score at all must be marked failed (``error=`` or NaN
    scores); unscored and unmarked, it hides a search that never used the folds.
    """
    ctx = _ctx(adapter, ctx)
    run = ctx.base_run()
    cands = run.record.candidates
    if not cands:
        raise CheckFailed(f"the fold-plan run proposed no candidate ({run.describe_failure()})")
    wrong = [(c.index, len(c.fold_scores)) for c in cands if len(c.fold_scores) != data.N_FOLDS]
    if wrong:
        i, k = wrong[0]
        raise CheckFailed(f"{len(wrong)} of {len(cands)} candidates report a number of fold scores other than "
                          f"the {data.N_FOLDS} given folds (candidate {i}: {k})")
    unmarked = [c for c in cands if not any(s is not None for s in c.fold_scores) and not _marked_failed(c)]
    if unmarked:
        c = unmarked[0]
        raise CheckFailed(f"{len(unmarked)} of {len(cands)} candidates report no fold score at all and are not "
                          f"marked failed (candidate {c.index}, {c.algorithm}: {c.fold_scores}): report a failed "
                          "candidate with task.add_candidate(..., error='why'), or with NaN fold scores")
    informative, bad, clear = 0, [], 0
    for c in cands:
        odd = c.fold_scores[data.ODD_FOLD]
        others = [s for k, s in enumerate(c.fold_scores) if k != data.ODD_FOLD and s is not None]
        if odd is None or not others:
            continue
        if all(s == odd for s in others):
            continue  # constant fold scores (uniform predictions) say nothing about the folds
        informative += 1
        if not (odd > max(others)):
            bad.append(c)
        elif odd > ODD_FOLD_RATIO * max(others):
            clear += 1
    if not informative:
        raise CheckFailed("no candidate reported differing scores for the odd fold and another fold")
    if bad:
        c = bad[0]
        scores = ", ".join("-" if s is None else f"{s:.4g}" for s in c.fold_scores)
        raise CheckFailed(f"{len(bad)} of {informative} candidates do not show the given fold plan: candidate "
                          f"{c.index} ({c.algorithm}) has {run.experiment.spec.metric} per fold [{scores}], "
                          f"but fold {data.ODD_FOLD} holds the pattern-breaking rows and should be the worst: "
                          "were the given folds used?")
    if not clear:
        raise CheckFailed(f"fold {data.ODD_FOLD} is the worst fold of every candidate, but never by a factor of "
                          f"{ODD_FOLD_RATIO} as the given fold plan makes it: were the given folds used?")
    return f"{informative} candidates show the odd fold, {clear} by a factor over {ODD_FOLD_RATIO}"


def check_trials_budget_respected(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """A run under a trial budget proposes at most that many candidates."""
    ctx = _ctx(adapter, ctx)
    run = ctx.base_run(mode="trials")
    budget = run.experiment.spec.budget.trials
    n = len(run.record.candidates)
    if n > budget:
        raise CheckFailed(f"{n} candidates under a budget of {budget} trials")
    _completed(run, "trial-budget")
    return f"{n} candidates under a budget of {budget} trials"


def _identical(a: ContractRun, b: ContractRun) -> "tuple[bool, bool, bool]":
    same_cands = candidates_identity(a.record.candidates) == candidates_identity(b.record.candidates)
    same_scores = [c.fold_scores for c in a.record.candidates] == [c.fold_scores for c in b.record.candidates]
    pa, pb = a.predictions(), b.predictions()
    same_pred = pa is not None and pb is not None and jf.predictions_sha256(pa) == jf.predictions_sha256(pb)
    return same_cands, same_scores, same_pred


def check_seed_reaches_backend(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Two master seeds, same data and folds: the derived backend seeds give different runs."""
    ctx = _ctx(adapter, ctx)
    mode = ctx.base_mode()
    if not ctx.caps.deterministic.get(mode, False):
        raise CheckSkipped(f"not deterministic under a {mode} budget: two seeds' runs could differ by chance")
    a, b = ctx.base_run(0), ctx.base_run(1)
    for r in (a, b):
        _completed(r, "seed")
    same_cands, same_scores, same_pred = _identical(a, b)
    if same_cands and same_scores and same_pred:
        sa, sb = (r.experiment.spec.seeds["backend"] for r in (a, b))
        raise CheckFailed(f"master seeds {ctx.config.seeds[0]} and {ctx.config.seeds[1]} (backend seeds {sa} and "
                          f"{sb}) gave the same {len(a.record.candidates)} candidates, fold scores and hold-out "
                          "predictions: the derived seed does not reach the backend")
    what = "candidates" if not same_cands else "fold scores" if not same_scores else "hold-out predictions"
    return f"different {what} under seeds {ctx.config.seeds[0]} and {ctx.config.seeds[1]}"


def check_deterministic_when_declared(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Each budget mode declared deterministic: two runs of one spec give identical predictions and candidates."""
    ctx = _ctx(adapter, ctx)
    modes = [m for m in BUDGET_MODES if ctx.caps.deterministic.get(m) and m in ctx.caps.budget_modes]
    if not modes:
        raise CheckSkipped("no budget mode is declared deterministic")
    notes = []
    for mode in modes:
        a, b = ctx.base_run(0, mode=mode), ctx.base_run(0, repeat=1, mode=mode)
        for r in (a, b):
            _completed(r, f"{mode} determinism")
        same_cands, same_scores, same_pred = _identical(a, b)
        if not same_pred:
            pa, pb = a.predictions(), b.predictions()
            diff = float(np.nanmax(np.abs(pa - pb))) if pa is not None and pb is not None and \
                pa.shape == pb.shape else float("nan")
            raise CheckFailed(f"declared deterministic under a {mode} budget, but two runs of one spec gave "
                              f"different hold-out predictions (max difference {diff:.3g})")
        if not (same_cands and same_scores):
            raise CheckFailed(f"declared deterministic under a {mode} budget, but two runs of one spec proposed "
                              "different candidates or fold scores")
        notes.append(f"{mode}: identical ({len(a.record.candidates)} candidates)")
    return "; ".join(notes)


def check_deterministic_under_perturbed_timing(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Each mode declared deterministic: a run with jittered sleeps, fast thread switches and busy CPUs
    gives the quiet run's candidates, fold scores and hold-out predictions.

    Catches results that depend on which thread finishes first (candidates
    reported in completion order, a ``chosen`` that flips on ties), which a
    second run on a quiet machine usually does not show.
    """
    ctx = _ctx(adapter, ctx)
    modes = [m for m in BUDGET_MODES if ctx.caps.deterministic.get(m) and m in ctx.caps.budget_modes]
    if not modes:
        raise CheckSkipped("no budget mode is declared deterministic")
    notes = []
    for mode in modes:
        quiet, loud = ctx.base_run(0, mode=mode), ctx.perturbed_run(mode)
        for r in (quiet, loud):
            _completed(r, f"{mode} perturbed-timing")
        same_cands, same_scores, same_pred = _identical(quiet, loud)
        if not (same_cands and same_scores and same_pred):
            what = [w for w, same in (("candidates", same_cands), ("fold scores", same_scores),
                                      ("hold-out predictions", same_pred)) if not same]
            qa = [c.params for c in quiet.record.candidates][:3]
            la = [c.params for c in loud.record.candidates][:3]
            raise CheckFailed(f"declared deterministic under a {mode} budget, but with thread timing perturbed the "
                              f"run gave different {', '.join(what)} (chosen {quiet.record.chosen} vs "
                              f"{loud.record.chosen}; first candidates {qa} vs {la}): results must not depend on "
                              "which thread finishes first")
        notes.append(f"{mode}: identical under perturbed timing ({len(loud.record.candidates)} candidates)")
    return "; ".join(notes)


def check_seconds_budget_respected(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """A run under a seconds budget ends, with a result, within the budget plus the stated grace.

    Start-up (launch to ready) and an asked-for out-of-fold refit are outside the budget:
    they are taken off the run's total before it is compared with the budget plus the grace."""
    ctx = _ctx(adapter, ctx)
    run = ctx.seconds_run()
    budget = run.experiment.spec.budget
    limit = budget.seconds + budget.grace_s
    d = run.record.durations
    total = (d.get("total") or 0.0) - (d.get("startup") or 0.0) - (d.get("oof_refit") or 0.0)
    if run.record.status == "timeout":
        raise CheckFailed(f"the run overran {budget.seconds:g}s + {budget.grace_s:g}s grace and was killed "
                          f"({len(run.record.candidates)} candidates by then)")
    _completed(run, "seconds-budget")
    if total > limit:
        raise CheckFailed(f"the run took {total:.1f}s under a budget of {budget.seconds:g}s + {budget.grace_s:g}s")
    search = run.record.durations.get("search")
    return f"ended in {total:.1f}s (search {search or 0:.1f}s) under {budget.seconds:g}s + {budget.grace_s:g}s grace"


# -- predictions and models ----------------------------------------------------------------------

def _prediction_problems(pred: Optional[np.ndarray], y: np.ndarray, task: str, n_classes: int,
                         train_freq: np.ndarray) -> List[str]:
    n = len(y)
    if pred is None:
        return ["no predictions were written"]
    if task == "regression":
        if pred.shape != (n,):
            return [f"shape {pred.shape}, expected ({n},)"]
        return [] if np.all(np.isfinite(pred)) else [f"{int(np.sum(~np.isfinite(pred)))} values are not finite"]
    if pred.shape != (n, n_classes):
        return [f"shape {pred.shape}, expected ({n}, {n_classes})"]
    problems = []
    if not np.all(np.isfinite(pred)):
        return [f"{int(np.sum(~np.isfinite(pred)))} probabilities are not finite"]
    if pred.min() < 0.0 or pred.max() > 1.0:
        problems.append(f"probabilities outside [0, 1] (min {pred.min():.3g}, max {pred.max():.3g})")
    sums = pred.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=PROBA_SUM_ATOL):
        problems.append(f"rows sum to between {sums.min():.6g} and {sums.max():.6g}, not 1")
    if problems:
        return problems
    # Class order: the suite's data have distinct class shares, so the columns' mean
    # probabilities must rank the classes as their training frequencies do.
    means = pred.mean(axis=0)
    want = np.argsort(-train_freq, kind="mergesort")
    got = np.argsort(-means, kind="mergesort")
    if not np.array_equal(want, got):
        shares = ", ".join(f"{f:.2f}" for f in train_freq)
        seen = ", ".join(f"{m:.2f}" for m in means)
        return [f"mean probability per column [{seen}] does not rank the classes as their training shares "
                f"[{shares}] do: probabilities are not in task.classes order"]
    return []


def check_predictions_well_formed(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Per declared task: shape, class order, probabilities in [0, 1] summing to 1, finite values."""
    ctx = _ctx(adapter, ctx)
    notes = []
    for task in ctx.declared_tasks():
        if task == ctx.main_task():
            run = ctx.base_run()
        else:
            frame, split = data.plain(task)
            run = ctx.side_run("predict", task, frame, split)
        _completed(run, f"{task} prediction")
        ds = run.experiment.dataset
        k = len(ds.classes)
        freq = np.bincount(ds.y[list(run.experiment.split.train)], minlength=k) / len(run.experiment.split.train) \
            if k else np.zeros(0)
        problems = _prediction_problems(run.predictions(), run.holdout_y(), task, k, freq)
        _fail_if(problems, f"malformed {task} predictions")
        notes.append(task)
    return f"well-formed predictions for {', '.join(notes)}"


def check_save_load_round_trip(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """``save`` then ``load`` (in a fresh process) gives bitwise-identical hold-out predictions."""
    ctx = _ctx(adapter, ctx)
    run = ctx.base_run()
    _completed(run, "save/load")
    before = run.predictions()
    try:
        after = ctx.reload_predictions(run)
    except Exception as e:  # noqa: BLE001 - the probe's failure is the finding
        raise CheckFailed(str(e)) from e
    if before is None or after.shape != before.shape:
        raise CheckFailed(f"the loaded model predicts shape {after.shape}, the saved one "
                          f"{None if before is None else before.shape}")
    if not np.array_equal(before, after, equal_nan=True):
        diff = float(np.nanmax(np.abs(before - after)))
        raise CheckFailed(f"the loaded model's predictions differ from the saved model's (max difference {diff:.3g})")
    return f"identical predictions after load ({before.size} values)"


def _refit_predictions(source: str, X: Any, y: np.ndarray, X_hold: Any, task: str, n_classes: int) -> np.ndarray:
    namespace: Dict[str, Any] = {"__name__": "automux_contracts_candidate"}
    exec(compile(source, "<candidate_source>", "exec"), namespace)  # noqa: S102 - the adapter's own source
    model = namespace["build_model"]().fit(X, y)
    if task == "regression":
        return np.asarray(model.predict(X_hold), dtype=np.float64).ravel()
    proba = np.asarray(model.predict_proba(X_hold), dtype=np.float64)
    out = np.zeros((len(X_hold), n_classes), dtype=np.float64)
    for j, cls in enumerate(getattr(model, "classes_", range(proba.shape[1]))):
        out[:, int(cls)] = proba[:, j]
    return out


def check_chosen_matches_returned_model(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """The chosen candidate, rebuilt from ``candidate_source`` and refit on the training rows, predicts the
    hold-out like the returned model (within 1e-5 relative, 1e-6 absolute).

    Applies to adapters that override ``candidate_source``. Catches a ``chosen``
    index that names the backend's own pick while another model is returned.
    """
    import pandas as pd

    from ..core.sklearn_kit import to_sklearn_frame

    ctx = _ctx(adapter, ctx)
    run = ctx.base_run()
    _completed(run, "chosen-model")
    rec, exp = run.record, run.experiment
    if rec.chosen is None:
        raise CheckFailed("the run returned a model but no chosen candidate")
    returned = run.predictions()
    ds, split = exp.dataset, exp.split
    columns = {str(c): ("categorical" if isinstance(t, pd.CategoricalDtype) else "numeric")
               for c, t in ds.X.dtypes.items()}
    train, hold = list(split.train), list(split.holdout)
    X = to_sklearn_frame(ds.X.iloc[train].reset_index(drop=True))
    X_hold = to_sklearn_frame(ds.X.iloc[hold].reset_index(drop=True))
    seed = exp.spec.seeds["backend"]

    def refit(index: int) -> Optional[np.ndarray]:
        source = adapter.candidate_source(rec.candidates[index], ds.task, columns, seed)
        if source is None:
            return None
        return _refit_predictions(source, X, ds.y[train], X_hold, ds.task, len(ds.classes))

    try:
        mine = refit(rec.chosen)
    except ImportError as e:
        raise CheckSkipped(f"the chosen candidate's source does not import here: {e}") from e
    if mine is None:
        raise CheckSkipped(f"candidate_source gives no source for the chosen candidate {rec.chosen}")
    if returned is not None and mine.shape == returned.shape and \
            np.allclose(mine, returned, rtol=CHOSEN_RTOL, atol=CHOSEN_ATOL):
        return f"candidate {rec.chosen} refit predicts what the returned model predicts ({mine.size} values)"
    matches = []
    for i in range(len(rec.candidates)):
        if i == rec.chosen:
            continue
        try:
            other = refit(i)
        except Exception:  # noqa: BLE001 - only looking for the model that was returned
            continue
        if other is not None and returned is not None and other.shape == returned.shape and \
                np.allclose(other, returned, rtol=CHOSEN_RTOL, atol=CHOSEN_ATOL):
            matches.append(i)
    diff = float(np.nanmax(np.abs(mine - returned))) if returned is not None and mine.shape == returned.shape \
        else float("nan")
    raise CheckFailed(f"chosen={rec.chosen}, but that candidate refit predicts differently from the returned model "
                      f"(max difference {diff:.3g})" + (f"; candidate {matches[0]} matches it" if matches else ""))


# -- options -------------------------------------------------------------------------------------

def check_undeclared_options_refused(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """``check_options`` (called in the parent before any worker) refuses a key no adapter declares."""
    if getattr(adapter, "free_form_options", False):
        raise CheckSkipped("declares free-form options (free_form_options = True)")
    try:
        adapter.check_options({UNDECLARED_OPTION: 1})
    except SpecError:
        return f"option {UNDECLARED_OPTION!r} refused with SpecError"
    except Exception as e:  # noqa: BLE001 - the wrong type is the finding
        raise CheckFailed(f"check_options raised {type(e).__name__} for an undeclared option, not SpecError: {e}")
    raise CheckFailed(f"check_options accepted the undeclared option {UNDECLARED_OPTION!r}: a typo would be "
                      "silently ignored (declare accepted_options, or call super().check_options(options))")


# -- processes -----------------------------------------------------------------------------------

def check_no_process_left_behind(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """No process a run started outlives the run (checked after every run the suite made)."""
    if not processes.supported():
        raise CheckSkipped("needs /proc (Linux) to see the processes a run started")
    ctx = _ctx(adapter, ctx)
    ctx.base_run()
    left = ctx.all_leftovers()
    if left:
        run, procs = left[0]
        shown = "; ".join(p.describe() for p in procs[:3])
        raise CheckFailed(f"{sum(len(p) for _, p in left)} processes outlived {len(left)} of {len(ctx.runs)} runs "
                          f"(run {run.record.run_id}: {shown}); the suite has ended them")
    return f"none after {len(ctx.runs)} runs"


# -- choosing checks -----------------------------------------------------------------------------

def yield_checks(adapter: Adapter) -> Iterator[Check]:
    """The checks that apply to ``adapter``, chosen from its declared capabilities."""
    caps = adapter.capabilities
    get = (lambda attr, default: getattr(caps, attr, default))
    modes = get("budget_modes", ()) or ()
    tasks = get("tasks", ()) or ()
    yield check_capabilities_well_formed
    yield check_environment_well_formed
    yield check_import_is_light
    if any(t not in tasks for t in TASK_NAMES):
        yield check_unsupported_tasks_refused
    yield check_categorical_supported if get("categorical", False) else check_categorical_rejected
    yield check_missing_values_supported if get("missing_values", False) else check_missing_values_rejected
    if get("custom_folds", True):
        yield check_given_folds_used
    if "trials" in modes:
        yield check_trials_budget_respected
    if get("seeded", True):
        yield check_seed_reaches_backend
    deterministic = get("deterministic", {})
    if isinstance(deterministic, dict) and any(deterministic.get(m) for m in modes):
        yield check_deterministic_when_declared
        yield check_deterministic_under_perturbed_timing
    yield check_predictions_well_formed
    yield check_save_load_round_trip
    if type(adapter).candidate_source is not Adapter.candidate_source:
        yield check_chosen_matches_returned_model
        from .checks_rebuild import rebuild_checks
        yield from rebuild_checks(adapter)
    if not getattr(adapter, "free_form_options", False):
        yield check_undeclared_options_refused
    if "seconds" in modes:
        yield check_seconds_budget_respected
    if isinstance(get("deterministic_multicore", {}), dict) and any(
            get("deterministic_multicore", {}).get(m) for m in modes):
        yield check_deterministic_at_two_cores
    if get("categorical", False) and get("missing_values", False):
        yield check_hostile_frame
    # every adapter: out-of-fold predictions come from SearchResult.oof or a refit from candidate_source; the
    # check skips, with the recorded reason, an adapter that gives neither
    yield check_oof_never_saw_the_fold
    yield check_no_process_left_behind


ALL_CHECKS = (
    check_capabilities_well_formed, check_environment_well_formed, check_import_is_light,
    check_unsupported_tasks_refused, check_categorical_supported, check_categorical_rejected,
    check_missing_values_supported, check_missing_values_rejected, check_given_folds_used,
    check_trials_budget_respected, check_seed_reaches_backend, check_deterministic_when_declared,
    check_predictions_well_formed, check_save_load_round_trip, check_seconds_budget_respected,
    check_no_process_left_behind, check_deterministic_under_perturbed_timing, check_chosen_matches_returned_model,
    check_undeclared_options_refused,
)

# Checks kept in modules of their own.
from .checks_data import check_deterministic_at_two_cores, check_hostile_frame  # noqa: E402
from .checks_oof import check_oof_never_saw_the_fold  # noqa: E402
from .checks_rebuild import check_rebuild_reproduces  # noqa: E402

ALL_CHECKS = ALL_CHECKS + (check_rebuild_reproduces, check_deterministic_at_two_cores, check_hostile_frame,
                           check_oof_never_saw_the_fold)
