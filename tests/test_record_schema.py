"""The typed record: every ``extra`` section automux writes is named and typed in run_record.schema.json, real
records of the reference backend validate against it, a malformed section does not, and a record written by
4c80c37 (before memory / startup / data were recorded) still loads, validates, reads through the typed
sections and verifies."""
from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

import automux
from automux.core.experiment.record import (SECTIONS, TYPED_SECTIONS, DegenerateSection, MemorySection, OofSection,
                                            RunRecord, unknown_sections)
from automux.core.run.execute import execute
from automux.core.run.store import RunStore

jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("sklearn")

SCHEMA = json.loads((Path(automux.__file__).parent / "schemas" / "run_record.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
OLD = Path(__file__).parent / "data" / "record_4c80c37"
OLD_RUN = "20261204T144201-60c09612"


def _valid(record):
    """The stored JSON of ``record`` validates, and every section in it is one the schema names."""
    d = json.loads(record.dumps()) if isinstance(record, RunRecord) else record
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(d)]
    assert not errors, errors
    assert unknown_sections(d["extra"]) == [], "a section automux writes is missing from the schema"
    return d


def _invalid(d, where):
    errors = [list(e.absolute_path) for e in VALIDATOR.iter_errors(d)]
    assert errors and all(p[:len(where)] == where for p in errors), errors


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Real reference runs of one spec: governed (readiness, gain), explained, a plain one, an ensemble of the two,
    and one interrupted in its first candidate hook."""
    from automux.governance import importance
    from automux.governance.ensemble import build_ensemble

    store = RunStore(tmp_path_factory.mktemp("typed") / "runs")
    governed = automux.run("sklearn:iris", "target", "reference", budget_trials=2, seed=3, store=store)
    exp = automux.experiment("sklearn:iris", "target", budget_trials=2, seed=3)
    plain = execute(exp, "reference", store=store)
    ensemble = build_ensemble([governed.run_id, plain.run_id], store=store)
    importance.compute(governed.run_id, store=store, n_repeats=1)

    def stop(event, info):
        if event == "candidate":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(exp, "reference", store=store, progress=stop)
    interrupted = next(r for r in store.list() if r["status"] == "interrupted")
    return {"governed": store.load(governed.run_id), "plain": plain, "ensemble": ensemble,
            "interrupted": store.load(interrupted["run_id"])}


def test_the_schema_is_valid_and_names_every_section():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert sorted(SCHEMA["$defs"]["extra"]["properties"]) == sorted(SECTIONS)
    assert set(TYPED_SECTIONS) <= set(SECTIONS)


def test_real_records_validate_section_by_section(runs):
    governed = _valid(runs["governed"])["extra"]
    assert {"readiness", "gain", "oof", "memory", "startup", "data", "importance"} <= set(governed)
    assert governed["oof"]["available"] and governed["gain"]["available"]
    assert _valid(runs["plain"])["extra"]["oof"]["source"] == "adapter"
    ens = _valid(runs["ensemble"])["extra"]
    assert ens["oof"]["source"] == "ensemble" and len(ens["ensemble"]["members"]) == 2
    stopped = _valid(runs["interrupted"])
    assert stopped["status"] == "interrupted" and stopped["extra"]["signal"] == "SIGINT"
    assert stopped["extra"]["oof"]["available"] is False


def test_a_degenerate_run_validates(fakes_on_path, store):
    from fake_adapters import FakeMeanAdapter

    exp = automux.experiment("sklearn:iris", "target", budget_trials=1, seed=3)
    record = execute(exp, FakeMeanAdapter(), store=store)
    assert "same for every hold-out row" in _valid(record)["extra"]["degenerate"]["reason"]
    assert record.section("degenerate").reason == record.summary()["degenerate"]


def test_a_selection_and_a_non_finite_score_validate(runs):
    from automux.select import Constraints
    from automux.select.selector import select

    # what api.run(backend="auto") records (no result files: the evidence table takes a minute to profile)
    sel = select("sklearn:iris", "target", Constraints(trials=2, installed_only=True), task="multiclass",
                 result_files=[])
    assert sel.choice and sel.ranking
    record = dataclasses.replace(runs["plain"], score=float("nan"),
                                 extra=dict(runs["plain"].extra, selection=sel.to_json()))
    d = _valid(record)
    assert d["score"] is None and d["extra"]["non_finite"]["paths"] == [".score"]


@pytest.mark.parametrize("section, value, where", [
    ("oof", {"available": "yes", "source": None}, ["extra", "oof", "available"]),
    ("oof", {"available": True, "source": None}, ["extra", "oof"]),  # available: it must name its source
    ("memory", {"limit_mb": 512, "exceeded": False}, ["extra", "memory"]),  # no guard
    ("gain", {"available": True, "reason": "x"}, ["extra", "gain"]),  # available without a baseline
    ("degenerate", {"score": 1.0}, ["extra", "degenerate"]),
    ("signal", 2, ["extra", "signal"]),
    ("ensemble", {"members": [], "weights": [], "metric": "log_loss"}, ["extra", "ensemble", "members"]),
    ("readiness", {"verdict": "fine", "warnings": [], "baselines": {}, "metric": "m", "split_fingerprint": "f"},
     ["extra", "readiness", "verdict"]),
])
def test_a_malformed_section_fails_validation(runs, section, value, where):
    d = json.loads(runs["governed"].dumps())
    d["extra"][section] = value
    _invalid(d, where)


def test_an_unknown_section_is_allowed_but_reported_and_newer_fields_are_tolerated(runs):
    d = json.loads(runs["governed"].dumps())
    d["extra"]["a_plugins_note"] = {"anything": 1}
    d["extra"]["oof"]["a_newer_field"] = [1, 2]
    assert not list(VALIDATOR.iter_errors(d))
    assert unknown_sections(d["extra"]) == ["a_plugins_note"]
    record = RunRecord.from_json(d)
    assert record.section("oof") == OofSection(**{k: tuple(v) if isinstance(v, list) else v
                                                   for k, v in d["extra"]["oof"].items() if k != "a_newer_field"})
    with pytest.raises(ValueError, match="a_plugins_note"):
        record.section("a_plugins_note")


def test_typed_sections_read_new_records(runs):
    rec = runs["governed"]
    mem = rec.section("memory")
    assert isinstance(mem, MemorySection) and mem.limit_mb == rec.extra["memory"]["limit_mb"] and mem.guard
    assert rec.section("startup").startup_s == rec.extra["startup"]["startup_s"]
    assert rec.section("gain").available and rec.section("gain").baseline == rec.extra["gain"]["baseline"]
    assert rec.section("degenerate") is None and rec.summary()["degenerate"] is None
    sel = rec.section("readiness")  # untyped: a copy, changing it leaves the record alone
    sel["verdict"] = "changed"
    assert rec.extra["readiness"]["verdict"] != "changed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.section("oof").available = False


def test_a_record_written_by_4c80c37_loads_validates_and_verifies(tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(OLD, root)
    store = RunStore(root)
    old = store.load(OLD_RUN)
    assert old.spec.spec_id == old.spec_id == "8f44e836201570ba"  # the id it was written with
    _valid(old)
    assert set(old.extra) < set(SECTIONS) and "memory" not in old.extra and "startup" not in old.extra
    assert old.section("memory") is None and old.section("startup") is None and old.section("data") is None
    assert old.section("oof") == OofSection(**{k: tuple(v) if isinstance(v, list) else v
                                               for k, v in old.extra["oof"].items()})
    assert old.section("oof").source == "refit" and isinstance(old.section("degenerate"), type(None))
    out = automux.verify(OLD_RUN, store=store)
    assert out["verdict"] in ("identical", "within_tolerance"), out
    rerun = _valid(store.load(out["rerun_id"]))
    assert rerun["extra"]["verifies"] == OLD_RUN and rerun["spec_id"] == old.spec_id


def test_a_section_missing_fields_reads_with_defaults():
    """An older or partial section still reads: absent fields take the documented defaults."""
    from automux.core.experiment.record import _section_from_json

    assert _section_from_json(OofSection, {"available": False}) == OofSection()
    assert _section_from_json(DegenerateSection, {"reason": "r"}).score is None
    assert copy.deepcopy(_section_from_json(MemorySection, {"limit_mb": 5, "guard": "cgroup"})).exceeded is False
