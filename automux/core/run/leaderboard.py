"""The leaderboard: records of one spec, best first by the spec's metric."""
from __future__ import annotations

from typing import List, Sequence

from ..experiment.metrics import get_metric
from ..experiment.record import RunRecord


def leaderboard(records: Sequence[RunRecord]) -> List[RunRecord]:
    """Records best first by the spec's metric; failed runs last."""
    if not records:
        return []
    metric = get_metric(records[0].metric, records[0].spec.task)
    ok = [r for r in records if r.status == "ok" and r.score is not None]
    ok.sort(key=lambda r: metric.loss(r.score))
    return ok + [r for r in records if r not in ok]
