"""Checks that the seed reaches the backend and that a mode declared deterministic is, even under jittered timing.

(Determinism at two cores, which needs its own runs, is in :mod:`automux.contracts.checks_data`.)
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.adapter import Adapter
from ..core.capabilities import BUDGET_MODES
from ..core.experiment.spec import candidates_identity
from ..core.run import jobfiles as jf
from ._common import completed, ctx_for
from .context import ContractContext, ContractRun
from .results import CheckFailed, CheckSkipped


def identical(a: ContractRun, b: ContractRun) -> "tuple[bool, bool, bool]":
    """Whether two runs gave the same candidates, the same fold scores, the same hold-out predictions."""
    same_cands = candidates_identity(a.record.candidates) == candidates_identity(b.record.candidates)
    same_scores = [c.fold_scores for c in a.record.candidates] == [c.fold_scores for c in b.record.candidates]
    pa, pb = a.predictions(), b.predictions()
    same_pred = pa is not None and pb is not None and jf.predictions_sha256(pa) == jf.predictions_sha256(pb)
    return same_cands, same_scores, same_pred


def check_seed_reaches_backend(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Two master seeds, same data and folds: the derived backend seeds give different runs."""
    ctx = ctx_for(adapter, ctx)
    mode = ctx.base_mode()
    if not ctx.caps.deterministic.get(mode, False):
        raise CheckSkipped(f"not deterministic under a {mode} budget: two seeds' runs could differ by chance")
    a, b = ctx.base_run(0), ctx.base_run(1)
    for r in (a, b):
        completed(r, "seed")
    same_cands, same_scores, same_pred = identical(a, b)
    if same_cands and same_scores and same_pred:
        sa, sb = (r.experiment.spec.seeds["backend"] for r in (a, b))
        raise CheckFailed(f"master seeds {ctx.config.seeds[0]} and {ctx.config.seeds[1]} (backend seeds {sa} and "
                          f"{sb}) gave the same {len(a.record.candidates)} candidates, fold scores and hold-out "
                          "predictions: the derived seed does not reach the backend")
    what = "candidates" if not same_cands else "fold scores" if not same_scores else "hold-out predictions"
    return f"different {what} under seeds {ctx.config.seeds[0]} and {ctx.config.seeds[1]}"


def _declared_modes(ctx: ContractContext) -> "list[str]":
    """The budget modes the adapter supports and declares deterministic; skips the check when there is none."""
    modes = [m for m in BUDGET_MODES if ctx.caps.deterministic.get(m) and m in ctx.caps.budget_modes]
    if not modes:
        raise CheckSkipped("no budget mode is declared deterministic")
    return modes


def check_deterministic_when_declared(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Each budget mode declared deterministic: two runs of one spec give identical predictions and candidates."""
    ctx = ctx_for(adapter, ctx)
    modes = _declared_modes(ctx)
    notes = []
    for mode in modes:
        a, b = ctx.base_run(0, mode=mode), ctx.base_run(0, repeat=1, mode=mode)
        for r in (a, b):
            completed(r, f"{mode} determinism")
        same_cands, same_scores, same_pred = identical(a, b)
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
    ctx = ctx_for(adapter, ctx)
    modes = _declared_modes(ctx)
    notes = []
    for mode in modes:
        quiet, loud = ctx.base_run(0, mode=mode), ctx.perturbed_run(mode)
        for r in (quiet, loud):
            completed(r, f"{mode} perturbed-timing")
        same_cands, same_scores, same_pred = identical(quiet, loud)
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
