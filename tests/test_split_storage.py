"""split.json: one small integer per row (fold-ids-v1); the older index-list format still reads."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from automux.core.experiment.split import Split, given_split, make_split


def _old_json(split):
    return {"method": split.method, "holdout": list(split.holdout), "train": list(split.train),
            "folds": [list(f) for f in split.folds]}


def _old_fingerprint(split):
    body = json.dumps({"holdout": list(split.holdout), "folds": [list(f) for f in split.folds],
                       "train": list(split.train)}, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@pytest.mark.parametrize("task,k", [("binary", 5), ("multiclass", 3), ("regression", 2)])
def test_compact_round_trip_keeps_split_and_fingerprint(task, k):
    rng = np.random.default_rng(4)
    y = rng.normal(size=300) if task == "regression" else rng.integers(0, 3 if task == "multiclass" else 2, 300)
    split = make_split(y, task, seed=9, n_folds=k)
    d = json.loads(json.dumps(split.to_json()))
    assert d["format"] == "fold-ids-v1" and "holdout" not in d
    again = Split.from_json(d)
    assert again == split
    assert again.fingerprint == split.fingerprint == _old_fingerprint(split) == d["fingerprint"]


def test_old_format_still_reads():
    y = np.arange(100) % 2
    split = make_split(y, "binary", seed=1)
    assert Split.from_json(json.loads(json.dumps(_old_json(split)))) == split


def test_given_split_round_trips():
    split = given_split(40, list(range(30, 40)), [list(range(0, 10)), list(range(10, 30))])
    again = Split.from_json(json.loads(json.dumps(split.to_json())))
    assert again == split and again.method == "given"


def test_compact_at_100k_rows():
    y = np.arange(100_000) % 2
    text = json.dumps(make_split(y, "binary", seed=0).to_json())
    assert len(text) < 100_000  # vs about 1.3 MB as index lists
