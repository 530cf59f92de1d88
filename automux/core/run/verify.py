"""Verify: rebuild a recorded experiment and compare two records of the same spec."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Union

import numpy as np
import pandas as pd

from ..experiment.data import load_data
from ..experiment.fingerprint import legacy_fingerprint
from ..experiment.prepare import Experiment
from ..experiment.record import RunRecord
from ..experiment.spec import candidates_identity
from ..experiment.split import Split
from ..errors import DataError
from . import jobfiles as jf
from .store import RunStore


def experiment_from_record(record: RunRecord, store: RunStore,
                           data: Optional[Union[str, pd.DataFrame]] = None) -> Experiment:
    """Rebuild a recorded experiment, checking that the record is untouched and the data still the same."""
    from .integrity import check_record
    check_record(record, store.run_dir(record.run_id))  # a hand-edited record is refused, not re-run
    spec = record.spec
    source = data if data is not None else spec.data["source"]
    if isinstance(source, str) and source == "<dataframe>":
        raise DataError(f"run {record.run_id} was made from an in-memory DataFrame: pass the same data again")
    ds = load_data(source, spec.data["target"], task=spec.data["task"], drop=spec.data.get("drop") or None,
                   drop_missing_target=bool(spec.data.get("drop_missing_target")),
                   parse_dates=bool(spec.data.get("dates")))  # a record without dates read its text as text
    if ds.fingerprint != spec.data["fingerprint"] and legacy_fingerprint(ds.X, ds.y) != spec.data["fingerprint"]:
        raise DataError(f"the data at {spec.data['source']} has changed since run {record.run_id} "
                        f"(fingerprint {ds.fingerprint[:12]} != recorded {spec.data['fingerprint'][:12]})")
    store.check_artifacts(record, "split.json")
    split = Split.from_json(json.loads((store.run_dir(record.run_id) / "split.json").read_text()))
    if split.fingerprint != spec.split["fingerprint"]:
        raise DataError(f"the split file of run {record.run_id} does not match its recorded fingerprint")
    return Experiment(dataset=ds, split=split, spec=spec)


def compare_records(a: RunRecord, b: RunRecord, store: RunStore, rtol: float = 1e-6) -> Dict[str, Any]:
    """Verdict ``identical`` (bitwise predictions, same candidates), ``within_tolerance`` or ``different``."""
    details: Dict[str, Any] = {"status": [a.status, b.status], "score": [a.score, b.score],
                               "predictions_sha256": [a.predictions_sha256, b.predictions_sha256]}
    same_cands = candidates_identity(a.candidates) == candidates_identity(b.candidates)
    details["same_candidates"] = same_cands
    if a.status != "ok" or b.status != "ok":
        return {"verdict": "different", "details": details}
    if a.predictions_sha256 == b.predictions_sha256 and same_cands:
        return {"verdict": "identical", "details": details}
    task = a.spec.task
    pa_ = jf.predictions_array(jf.read_arrow(store.run_dir(a.run_id) / jf.PREDICTIONS), task)
    pb = jf.predictions_array(jf.read_arrow(store.run_dir(b.run_id) / jf.PREDICTIONS), task)
    close = pa_.shape == pb.shape and bool(np.allclose(pa_, pb, rtol=rtol, atol=rtol))
    details["max_abs_diff"] = float(np.max(np.abs(pa_ - pb))) if pa_.shape == pb.shape else None
    return {"verdict": "within_tolerance" if close else "different", "details": details}
