"""The versioned run record: everything needed to reconstruct a run."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from .spec import Candidate, Spec, jsonable

RECORD_SCHEMA = 1
STATUSES = ("ok", "failed", "timeout", "crashed", "interrupted")


@dataclass(frozen=True)
class RunRecord:
    """One run of one spec on one adapter.

    ``scores`` are hold-out scores computed by automux; ``predictions_sha256``
    hashes the hold-out predictions (float64, C order); ``env`` holds the
    interpreter, platform and every package version of the env the backend ran in;
    ``artifacts`` maps a relative path to its sha256. A run with status other than
    ``ok`` still holds its log and the candidates found before it ended.
    ``durations`` (seconds): ``total``, ``search``, ``predict``, and since issue 22
    ``startup`` (launch to ready: outside a seconds budget; ``extra["startup"]`` holds
    the adapter's ``start_up`` facts) and ``oof_refit`` (an asked-for out-of-fold
    refit, outside the budget); older records lack the last two and still load.
    """

    run_id: str
    spec_id: str
    spec: Spec
    backend: str
    backend_options: Dict[str, Any]
    status: str
    created_utc: str
    durations: Dict[str, Optional[float]]
    candidates: List[Candidate]
    chosen: Optional[int]
    metric: str
    score: Optional[float]
    scores: Dict[str, float]
    predictions_sha256: Optional[str]
    determinism: Dict[str, Any]
    env: Dict[str, Any]
    artifacts: Dict[str, str]
    log: str
    error: Optional[str] = None
    automux_version: str = ""
    execution: str = "worker"
    extra: Dict[str, Any] = field(default_factory=dict)
    schema: int = RECORD_SCHEMA

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_json()
        d["candidates"] = [c.to_json() for c in self.candidates]
        return d

    def dumps(self) -> str:
        """The record as strict JSON text (``allow_nan=False``).

        A non-finite number (a NaN score) is stored as ``null`` and its path is
        listed in ``extra["non_finite"]`` with the reason, so the file is always
        valid JSON and nothing is silently changed.
        """
        bad: List[str] = []
        d = jsonable(self.to_json(), "", bad)
        if bad:
            d["extra"]["non_finite"] = {"paths": bad, "reason": "not a finite number (NaN or infinity): "
                                        "JSON cannot hold it, stored as null"}
        return json.dumps(d, indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "RunRecord":
        d = dict(d)
        if d.get("schema", RECORD_SCHEMA) > RECORD_SCHEMA:
            raise ValueError(f"run record schema {d['schema']} is newer than this automux understands")
        d["spec"] = Spec.from_json(d["spec"])
        d["candidates"] = [Candidate.from_json(c) for c in d["candidates"]]
        return cls(**d)

    def summary(self) -> Dict[str, Any]:
        """The object ``automux run --json`` prints (less the record path)."""
        return {"run_id": self.run_id, "status": self.status, "backend": self.backend, "metric": self.metric,
                "score": self.score, "predictions_sha256": self.predictions_sha256,
                "candidates": len(self.candidates), "duration_s": self.durations.get("total"),
                "spec_id": self.spec_id, "error": self.error,
                "degenerate": (self.extra.get("degenerate") or {}).get("reason")}
