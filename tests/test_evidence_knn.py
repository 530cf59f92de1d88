"""Nearest-neighbour benchmark evidence (automux/select/evidence.py): distance, normalised scores, thin evidence."""
from __future__ import annotations

import csv
import math

import pytest

from automux.select import Profile
from automux.select import evidence


def _p(**kw):
    base = dict(rows=1000, features=10, numeric=10, categorical=0, text=0, datetime=0, missing_share=0.0,
                task="binary", classes=2, imbalance=1.0, memory_mb=1.0)
    base.update(kw)
    return Profile(**base)


def test_distance_separates_kinds_and_grows_with_size():
    assert math.isinf(evidence.profile_distance(_p(), _p(task="regression", classes=0)))
    assert evidence.profile_distance(_p(), _p()) == 0
    assert evidence.profile_distance(_p(), _p(rows=10_000)) < evidence.profile_distance(_p(), _p(rows=100_000))
    assert evidence.profile_distance(_p(), _p(task="multiclass", classes=3)) == 0.5


def test_normalised_scores_count_a_failure_as_zero():
    rows = [{"id": "d", "framework": fw, "constraint": "t", "fold": "0", "seed": "0", "result": r, "status": s}
            for fw, r, s in (("a", "0.9", "ok"), ("b", "0.8", "ok"), ("c", "", "failed"))]
    rows += [{"id": "d", "framework": fw, "constraint": "t", "fold": "1", "seed": "0", "result": r, "status": "ok"}
             for fw, r in (("a", "0.7", ), ("b", "0.8"), ("c", "0.6"))]
    n = evidence.normalised_scores(rows, "d")
    assert n == pytest.approx({"a": 0.75, "b": 0.5, "c": 0.0})


def test_evidence_points_and_thin_evidence(tmp_path):
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "task", "framework", "constraint", "fold", "seed", "result", "status"])
        w.writeheader()
        for fw, r in (("good", 0.99), ("bad", 0.90)):
            w.writerow({"id": "sklearn:breast_cancer", "task": "breast_cancer", "framework": fw,
                        "constraint": "trials5", "fold": 0, "seed": 0, "result": r, "status": "ok"})
    pts = evidence.evidence_points(_p(rows=600), [str(path)], weight=2.0)
    assert pts["good"][0] == 2.0 and pts["bad"][0] == -2.0
    assert "thin evidence" in pts["good"][1] and "breast_cancer" in pts["good"][1]
    assert evidence.evidence_points(_p(task="regression", classes=0), [str(path)]) == {}
    assert evidence.evidence_points(_p(), [str(path)], exclude_datasets=["sklearn:breast_cancer"]) == {}
