"""Gain, not just score: a candidate's gain over the baseline on the same folds, and its noise.

The gain on fold k is the candidate's fold score minus the baseline's on the
same fold, signed so that positive means better under the spec's metric. Its
fold-to-fold spread is the standard deviation of those per-fold gains. CV folds
share training rows, so the spread understates the noise of the mean; the test
is the corrected resampled t-test of Nadeau & Bengio (2003):

    t = mean_gain / sqrt((1/k + 1/(k-1)) * spread^2)        (k folds)

A gain is **fragile** when ``mean_gain <= 0`` or ``t`` is below the one-sided 95%
quantile of Student's t with k-1 degrees of freedom: it is inside the noise, not
an improvement. With 5 folds that means a mean gain under about 1.43 times the
fold spread.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

from ..core.errors import SpecError

if TYPE_CHECKING:  # pragma: no cover
    from ..core.experiment.record import RunRecord
    from .readiness import Readiness

#: One-sided 95% quantiles of Student's t by degrees of freedom (1..30); 1.645 beyond.
_T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782, 1.771, 1.761,
        1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701,
        1.699, 1.697)


def t_critical(df: int) -> float:
    """The one-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    return _T95[df - 1] if 1 <= df <= len(_T95) else 1.645


def fold_gain(candidate: Sequence[Optional[float]], baseline: Sequence[Optional[float]],
              greater_is_better: bool) -> Dict[str, Any]:
    """Per-fold gains of ``candidate`` over ``baseline`` (folds where both are scored), with the verdict.

    Returns ``{fold_gains, mean_gain, fold_spread, t, t_critical, fragile, folds_worse}``;
    ``fragile`` is True when fewer than two folds are scored on both sides.
    """
    sign = 1.0 if greater_is_better else -1.0
    gains = [sign * (c - b) for c, b in zip(candidate, baseline) if c is not None and b is not None]
    k = len(gains)
    if k == 0:
        return {"fold_gains": [], "mean_gain": None, "fold_spread": None, "t": None, "t_critical": None,
                "fragile": True, "folds_worse": 0}
    mean = sum(gains) / k
    spread = math.sqrt(sum((g - mean) ** 2 for g in gains) / (k - 1)) if k > 1 else 0.0
    crit = t_critical(k - 1) if k > 1 else None
    if k < 2:
        t, fragile = None, True
    elif spread == 0.0:
        t, fragile = (math.inf if mean > 0 else 0.0), mean <= 0
    else:
        t = mean / math.sqrt((1.0 / k + 1.0 / (k - 1)) * spread ** 2)
        fragile = mean <= 0 or t < crit
    return {"fold_gains": gains, "mean_gain": mean, "fold_spread": spread, "t": t, "t_critical": crit,
            "fragile": bool(fragile), "folds_worse": sum(1 for g in gains if g < 0)}


def _as_readiness(readiness: Union["Readiness", Dict[str, Any]]) -> "Readiness":
    from .readiness import Readiness

    return readiness if isinstance(readiness, Readiness) else Readiness.from_json(readiness)


def reason_text(g: Dict[str, Any], baseline: str, metric: str) -> str:
    """One line that says what the gain is and whether it is inside the noise."""
    if g["mean_gain"] is None:
        return f"no fold scored on both the candidate and the {baseline} baseline: no gain can be measured"
    k = len(g["fold_gains"])
    head = (f"gain {g['mean_gain']:+.4g} {metric} over the {baseline} baseline, fold spread "
            f"{g['fold_spread']:.3g} over {k} folds ({g['folds_worse']} worse)")
    if not g["fragile"]:
        return f"{head}: outside the fold noise (corrected t {g['t']:.2f} >= {g['t_critical']:.2f})"
    if g["mean_gain"] <= 0:
        return f"{head}: no gain, fragile"
    if g["t"] is None:
        return f"{head}: too few folds to tell it from noise, fragile"
    return f"{head}: inside the fold noise (corrected t {g['t']:.2f} < {g['t_critical']:.2f}), fragile"


def compute(record: "RunRecord", readiness: Union["Readiness", Dict[str, Any]],
            candidate: Optional[int] = None,
            fold_scores: Optional[List[Optional[float]]] = None) -> Dict[str, Any]:
    """The gain of a run's candidate (default: the chosen one) over the stronger baseline.

    ``readiness`` is a :class:`~automux.governance.readiness.Readiness` (or its
    JSON) for the same folds and metric. ``fold_scores`` overrides the
    candidate's recorded ones (promotion passes its re-validated scores).

    Returns ``{available, baseline, candidate, mean_gain, fold_spread, fold_gains,
    t, t_critical, fragile, folds_worse, holdout_gain, gains: {dummy, linear}, reason}``;
    ``available`` is False (with ``reason``) for a run without a scored candidate.

    Raises:
        SpecError: the readiness was measured on other folds or another metric.
    """
    r = _as_readiness(readiness)
    if r.split_fingerprint != record.spec.split.get("fingerprint"):
        raise SpecError(f"run {record.run_id} used other folds than the readiness check "
                        "(split fingerprints differ): check the same data with the same seed, folds and test size")
    if r.metric != record.metric:
        raise SpecError(f"run {record.run_id} is scored in {record.metric}, the readiness check in {r.metric}")
    index = record.chosen if candidate is None else candidate
    if index is None or not (0 <= index < len(record.candidates)):
        why = f"run {record.run_id} has no candidate {index}" if candidate is not None else \
            f"run {record.run_id} ({record.status}) chose no candidate"
        return {"available": False, "reason": why, "fragile": None}
    cand = record.candidates[index]
    scores = cand.fold_scores if fold_scores is None else fold_scores
    best = r.best_baseline
    g = fold_gain(scores, best.fold_scores, r.greater_is_better)
    sign = 1.0 if r.greater_is_better else -1.0
    holdout_gain = None
    if index == record.chosen and record.score is not None and best.holdout is not None:
        holdout_gain = sign * (record.score - best.holdout)
    gains = {}
    for name, b in r.baselines.items():
        other = fold_gain(scores, b.fold_scores, r.greater_is_better)["mean_gain"]
        gains[name] = other
    out: Dict[str, Any] = {"available": True, "baseline": best.name, "baseline_mean": best.mean,
                           "candidate": index, "metric": r.metric, **g, "holdout_gain": holdout_gain,
                           "gains": gains}
    out["reason"] = reason_text(g, best.name, r.metric)
    return out
