"""Checks that a search works inside the experiment: on the given folds, within a trial or seconds budget."""
from __future__ import annotations

from typing import Any, Optional

from ..core.adapter import Adapter
from . import data
from ._common import completed, ctx_for
from .context import ContractContext
from .results import CheckFailed

#: At least one candidate's odd-fold loss must exceed its other folds' losses by this factor.
ODD_FOLD_RATIO = 1.2


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
    ctx = ctx_for(adapter, ctx)
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
    ctx = ctx_for(adapter, ctx)
    run = ctx.base_run(mode="trials")
    budget = run.experiment.spec.budget.trials
    n = len(run.record.candidates)
    if n > budget:
        raise CheckFailed(f"{n} candidates under a budget of {budget} trials")
    completed(run, "trial-budget")
    return f"{n} candidates under a budget of {budget} trials"


def check_seconds_budget_respected(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """A run under a seconds budget ends, with a result, within the budget plus the stated grace.

    Start-up (launch to ready) and an asked-for out-of-fold refit are outside the budget:
    they are taken off the run's total before it is compared with the budget plus the grace."""
    ctx = ctx_for(adapter, ctx)
    run = ctx.seconds_run()
    budget = run.experiment.spec.budget
    limit = budget.seconds + budget.grace_s
    d = run.record.durations
    total = (d.get("total") or 0.0) - (d.get("startup") or 0.0) - (d.get("oof_refit") or 0.0)
    if run.record.status == "timeout":
        raise CheckFailed(f"the run overran {budget.seconds:g}s + {budget.grace_s:g}s grace and was killed "
                          f"({len(run.record.candidates)} candidates by then)")
    completed(run, "seconds-budget")
    if total > limit:
        raise CheckFailed(f"the run took {total:.1f}s under a budget of {budget.seconds:g}s + {budget.grace_s:g}s")
    search = run.record.durations.get("search")
    return f"ended in {total:.1f}s (search {search or 0:.1f}s) under {budget.seconds:g}s + {budget.grace_s:g}s grace"
