"""The leaderboard: records of one spec, best first by the spec's metric; the hold-out score's bootstrap interval."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..experiment.metrics import get_metric, roc_auc
from ..experiment.record import RunRecord

#: Bootstrap resamples of the hold-out rows behind ``extra["holdout_ci"]``.
CI_RESAMPLES = 200
CI_LEVEL = 0.95
#: Hold-out rows all resamples may draw together: past it (a hold-out over 50,000 rows) fewer resamples are
#: taken, never under :data:`CI_MIN_RESAMPLES`, so the interval does not cost more than the search at
#: millions of rows (where it is narrow anyway); the record's ``resamples`` says how many.
CI_MAX_RESAMPLED_ROWS = 10_000_000
CI_MIN_RESAMPLES = 20


def leaderboard(records: Sequence[RunRecord]) -> List[RunRecord]:
    """Records best first by the spec's metric; failed runs last."""
    if not records:
        return []
    metric = get_metric(records[0].metric, records[0].spec.task)
    ok = [r for r in records if r.status == "ok" and r.score is not None]
    ok.sort(key=lambda r: metric.loss(r.score))
    return ok + [r for r in records if r not in ok]


def holdout_ci(metric: str, task: str, y: np.ndarray, pred: np.ndarray, seed: int,
               resamples: int = CI_RESAMPLES, level: float = CI_LEVEL) -> Dict[str, Any]:
    """The hold-out score's percentile bootstrap interval: hold-out rows resampled with replacement, seeded.

    Returns ``{low, high, level, resamples, used, seed, method}``; ``used`` counts the
    resamples the metric could score (a resample with one class has no ROC AUC);
    ``low`` / ``high`` are None when fewer than half could. ``resamples`` shrinks past
    :data:`CI_MAX_RESAMPLED_ROWS` hold-out rows in all (at least :data:`CI_MIN_RESAMPLES`).
    """
    m = _fast_roc_auc if metric == "roc_auc" else get_metric(metric, task)
    rng = np.random.default_rng(seed)
    n = len(y)
    resamples = min(resamples, max(CI_MIN_RESAMPLES, CI_MAX_RESAMPLED_ROWS // max(n, 1)))
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        try:
            v = float(m(y[idx], pred[idx]))
        except (ValueError, ZeroDivisionError, FloatingPointError):
            continue
        if math.isfinite(v):
            values.append(v)
    low = high = None
    if n and len(values) >= resamples / 2:
        tail = (1 - level) / 2 * 100
        low, high = (float(x) for x in np.percentile(values, [tail, 100 - tail]))
    return {"low": low, "high": high, "level": level, "resamples": resamples, "used": len(values), "seed": seed,
            "method": "percentile bootstrap of the hold-out rows"}


def _unique_ranks(score: np.ndarray) -> np.ndarray:
    """:func:`automux.core.experiment.metrics.tie_ranks`, vectorised: fast enough for 200 resamples."""
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]


def _fast_roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """:func:`automux.core.experiment.metrics.roc_auc`, equal to it, with the vectorised ranks."""
    with np.errstate(all="ignore"):
        return roc_auc(y, proba, ranks=_unique_ranks)


def ci_text(record: RunRecord) -> str:
    """``0.9812 [0.9650, 0.9930]``: the hold-out score and its stored interval (``-`` for none)."""
    if record.score is None:
        return "-"
    ci: Optional[Dict[str, Any]] = record.extra.get("holdout_ci")
    if not ci or ci.get("low") is None:
        return f"{record.score:.4f}"
    return f"{record.score:.4f} [{ci['low']:.4f}, {ci['high']:.4f}]"
