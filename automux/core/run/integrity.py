"""Does a stored run record still say what the run wrote?

A record carries its own cross-checks: ``spec_id`` is the hash of the spec it
holds, ``metric`` is the spec's metric, ``score`` is ``scores[metric]``, and the
run directory's ``spec.json`` (whose sha256 the record lists) is the same spec.
:func:`check_record` compares them and refuses a record edited by hand, before
``runs show``, ``verify``, ``predict``, ``explain`` or ``promote`` trust it.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, List

from ..errors import ArtifactTampered


class RecordTampered(ArtifactTampered):
    """A run record no longer agrees with itself or with the files its run wrote."""


def record_problems(record: Any, run_dir: Path) -> List[str]:
    """What in ``record`` disagrees with itself or with ``run_dir/spec.json``; empty when it is consistent."""
    problems: List[str] = []
    spec = record.spec
    if spec.spec_id != record.spec_id:
        problems.append(f"its spec_id {record.spec_id} is not the hash of the spec it holds ({spec.spec_id})")
    if record.metric != spec.metric:
        problems.append(f"its metric {record.metric!r} is not its spec's {spec.metric!r}")
    held = (record.scores or {}).get(record.metric)
    if record.score is not None and held is not None and not math.isclose(record.score, held, rel_tol=1e-12):
        problems.append(f"its score {record.score!r} is not its {record.metric} hold-out score {held!r}")
    spec_file = run_dir / "spec.json"
    want = (record.artifacts or {}).get("spec.json")
    if want and spec_file.is_file():
        if hashlib.sha256(spec_file.read_bytes()).hexdigest() != want:
            problems.append("its spec.json no longer matches the sha256 the record lists")
        else:
            try:
                same = json.loads(spec_file.read_text(encoding="utf-8")) == json.loads(json.dumps(spec.to_json()))
            except ValueError:
                same = False
            if not same:
                problems.append("the spec it holds differs from the run's spec.json")
    return problems


def check_record(record: Any, run_dir: Path) -> None:
    """Raise :class:`RecordTampered` (one line) when :func:`record_problems` finds anything."""
    problems = record_problems(record, run_dir)
    if problems:
        raise RecordTampered(f"the record of run {record.run_id} was changed after the run ({'; '.join(problems)}): "
                             "it cannot be trusted; restore record.json from a backup or run the experiment again")
