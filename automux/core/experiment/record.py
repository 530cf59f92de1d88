"""The versioned run record: everything needed to reconstruct a run."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type, TypeVar

from .spec import Candidate, Spec, jsonable

RECORD_SCHEMA = 1
STATUSES = ("ok", "failed", "timeout", "crashed", "interrupted")

#: Every section automux writes into ``RunRecord.extra``; each is typed in
#: ``automux/schemas/run_record.schema.json`` (``$defs/extra``). A section not named
#: here (a plugin's, a newer minor's) still loads; :func:`unknown_sections` reports it.
SECTIONS = ("error_type", "returncode", "feature_names", "search_info", "data", "startup", "oof", "degenerate",
            "memory", "signal", "readiness", "gain", "selection", "importance", "ensemble", "verifies",
            "bench_cell", "non_finite", "holdout_ci")

_S = TypeVar("_S")


def _section_from_json(cls: Type[_S], d: Mapping[str, Any]) -> _S:
    """``cls`` from a stored section: missing fields take their defaults (older records), unknown ones are
    ignored (a newer minor's), lists become tuples (the section is frozen)."""
    kw = {f.name: (tuple(d[f.name]) if isinstance(d[f.name], list) else d[f.name])
          for f in fields(cls) if f.name in d}
    return cls(**kw)


@dataclass(frozen=True)
class OofSection:
    """``extra["oof"]``: the chosen candidate's out-of-fold predictions (``oof.arrow`` when available).

    ``source``: ``adapter`` (the search produced them), ``refit`` (a per-fold refit after the
    search, outside its budget), ``ensemble``; None when not available, ``reason`` says why."""

    available: bool = False
    source: Optional[str] = None
    reason: Optional[str] = None
    rows: Optional[int] = None
    covered_rows: Optional[int] = None
    fold_scores: Optional[Tuple[Optional[float], ...]] = None
    reproduces_fold_scores: Optional[bool] = None
    seconds: Optional[float] = None


@dataclass(frozen=True)
class DegenerateSection:
    """``extra["degenerate"]`` (only when flagged): the hold-out predictions are a constant model's."""

    reason: str = ""
    score: Optional[float] = None
    constant_score: Optional[float] = None


@dataclass(frozen=True)
class MemorySection:
    """``extra["memory"]``: the limit (MiB), the most the worker's processes held, how it was enforced."""

    limit_mb: Optional[int] = None
    peak_mb: Optional[float] = None
    guard: str = "none"
    exceeded: bool = False
    why_not_cgroup: Optional[str] = None


@dataclass(frozen=True)
class StartupSection:
    """``extra["startup"]``: launch to ready (outside a seconds budget) and the adapter's ``start_up`` facts."""

    startup_s: Optional[float] = None
    hook_s: Optional[float] = None
    facts: Optional[Dict[str, Any]] = None
    #: A compare's / bench's warm runtime (``automux.core.run.warm``): True when it had served runs before
    #: this one (start-up is then the connect time); ``runtime`` its identity (kind, pid, port, runs_served).
    warm: Optional[bool] = None
    runtime: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class GainSection:
    """``extra["gain"]``: the chosen candidate's gain over the stronger baseline on the same folds."""

    available: bool = False
    reason: Optional[str] = None
    fragile: Optional[bool] = None
    baseline: Optional[str] = None
    baseline_mean: Optional[float] = None
    candidate: Optional[int] = None
    metric: Optional[str] = None
    mean_gain: Optional[float] = None
    fold_spread: Optional[float] = None
    folds_worse: Optional[int] = None
    holdout_gain: Optional[float] = None


#: The sections read through a typed view; the others come back as stored (a copy).
TYPED_SECTIONS: Dict[str, type] = {"oof": OofSection, "degenerate": DegenerateSection, "memory": MemorySection,
                                   "startup": StartupSection, "gain": GainSection}
Section = Any  # a *Section above, a copy of the stored value, or None


def unknown_sections(extra: Mapping[str, Any]) -> List[str]:
    """Names in a record's ``extra`` that the schema does not type (allowed, but worth a look)."""
    return sorted(k for k in extra if k not in SECTIONS)


@dataclass(frozen=True)
class RunRecord:
    """One run of one spec on one adapter.

    ``scores`` are hold-out scores computed by automux; ``predictions_sha256``
    hashes the hold-out predictions (float64, C order); ``env`` holds the
    interpreter, platform and every package version of the env the backend ran in;
    ``artifacts`` maps a relative path to its sha256. A run with status other than
    ``ok`` still holds its log and the candidates found before it ended.
    ``durations`` (seconds): ``total``, ``search``, ``predict``, and (records since fair budgets)
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

    def section(self, name: str) -> Section:
        """``extra[name]`` read through its typed view (:data:`TYPED_SECTIONS`), None when absent.

        Old records lack some sections (``memory``, ``startup`` and ``data`` before fair budgets):
        the answer is None, never a KeyError. ``name`` must be one of :data:`SECTIONS`; a section
        outside them is read from ``extra`` directly.
        """
        if name not in SECTIONS:
            raise ValueError(f"unknown record section {name!r} (known: {', '.join(SECTIONS)})")
        value = (self.extra or {}).get(name)
        if value is None:
            return None
        cls = TYPED_SECTIONS.get(name)
        if cls is None:
            return json.loads(json.dumps(value))  # a copy: the record is frozen
        return _section_from_json(cls, value)

    def summary(self) -> Dict[str, Any]:
        """The object ``automux run --json`` prints (less the record path)."""
        return {"run_id": self.run_id, "status": self.status, "backend": self.backend, "metric": self.metric,
                "score": self.score, "predictions_sha256": self.predictions_sha256,
                "candidates": len(self.candidates), "duration_s": self.durations.get("total"),
                "spec_id": self.spec_id, "error": self.error,
                "degenerate": _reason(self.section("degenerate"))}


def _reason(flag: Optional[DegenerateSection]) -> Optional[str]:
    return flag.reason if flag is not None else None
