"""The promotion gate: explicit rebuilds, multi-seed re-validation, promotion or refusal with the reason."""
from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automux
from automux.adapters.reference import ReferenceAdapter
from automux.core import plugins
from automux.core.hookspecs import hookimpl
from automux.core.run.store import RunStore
from automux.governance import promote as gate
from automux.governance.promote import (FRAGILE_GAIN, NOT_REPRODUCIBLE, PROMOTED, REFUSED, WORSE_THAN_REPORTED, PromotionError, load_promotion, promote)
from helpers import run_cli


class FakeMisreportingAdapter(ReferenceAdapter):
    """A fake: searches like the reference adapter, but its explicit rebuild is another model (C=1e-4)."""

    name = "fake-misreporting"

    def candidate_source(self, candidate, task, columns, seed):
        other = dataclasses.replace(candidate, params={**candidate.params, "C": 1e-4})
        return super().candidate_source(other, task, columns, seed)


class FakeAutomuxImportingAdapter(ReferenceAdapter):
    """A fake whose candidate file imports automux, which a promoted candidate must not need."""

    name = "fake-automux-importing"

    def candidate_source(self, candidate, task, columns, seed):
        return "import automux.core.experiment.metrics\n" + super().candidate_source(candidate, task, columns, seed)


class FakeNoRebuildAdapter(ReferenceAdapter):
    """A fake that gives no explicit rebuild: only its own stored model can be promoted."""

    name = "fake-no-rebuild"

    def candidate_source(self, candidate, task, columns, seed):
        return None


class _FakePlugin:
    @hookimpl
    def automux_adapters(self):
        return [FakeMisreportingAdapter(), FakeAutomuxImportingAdapter(), FakeNoRebuildAdapter()]


@pytest.fixture(scope="module", autouse=True)
def fake_plugin():
    plugins.register(_FakePlugin(), name="fake-promote-adapters")
    yield
    plugins.unregister("fake-promote-adapters")


@pytest.fixture(scope="module")
def xor_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, size=(500, 4))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["y"] = ((X[:, 0] * X[:, 1] > 0) ^ (X[:, 2] > 0.6)).astype(int)
    path = tmp_path_factory.mktemp("data") / "xor.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def optuna_run(xor_csv, tmp_path_factory):
    pytest.importorskip("optuna")
    pytest.importorskip("lightgbm")
    store = RunStore(tmp_path_factory.mktemp("runs"))
    record = automux.run(str(xor_csv), "y", "optuna", budget_trials=12, seed=5, store=store)
    assert record.status == "ok", record.error
    return store, record


def _imports(path: Path) -> set:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.partition(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.partition(".")[0])
    return names


def test_optuna_candidate_is_promoted_and_reproduces_the_holdout(optuna_run, xor_csv):
    store, record = optuna_run
    d = promote(record.run_id, store=store, seeds=3)
    assert d["status"] == PROMOTED, d["reason"]
    assert d["rebuild"] == "explicit" and d["codes"] == []
    code = Path(d["code_path"])
    assert code.parent == store.run_dir(record.run_id) / "promotion"
    assert _imports(code) <= {"sklearn", "lightgbm"}
    assert not set(d["modules"]) & set(gate.FORBIDDEN) and "sklearn" in d["modules"]
    first = d["scores"]["revalidated"]["per_seed"][0]
    assert first["seed"] == record.spec.seeds["backend"] and len(d["seeds"]) == 3
    assert first["holdout"] == pytest.approx(record.score, abs=1e-9)
    assert first["fold_scores"] == pytest.approx(record.candidates[record.chosen].fold_scores, abs=1e-9)
    assert not d["gain"]["fragile"]
    assert [r["run_id"] for r in store.list(promoted=True)] == [record.run_id]
    assert load_promotion(record.run_id, store)["status"] == PROMOTED

    # the file stands alone: a fresh isolated interpreter, the run's rows, scikit-learn's own AUC
    from automux.core.experiment.split import Split
    stored = Split.from_json(json.loads((store.run_dir(record.run_id) / "split.json").read_text()))
    split = {"train": [int(i) for i in stored.train], "holdout": [int(i) for i in stored.holdout]}
    script = textwrap.dedent(f"""
        import runpy, sys
        import pandas as pd
        from sklearn.metrics import roc_auc_score
        frame = pd.read_csv({str(xor_csv)!r})
        X, y = frame.drop(columns=["y"]), frame["y"].to_numpy()
        train, hold = {split["train"]!r}, {split["holdout"]!r}
        model = runpy.run_path({str(code)!r})["build_model"]().fit(X.iloc[train], y[train])
        print(repr(roc_auc_score(y[hold], model.predict_proba(X.iloc[hold])[:, 1])))
        print(sorted(m for m in sys.modules if m.partition(".")[0] in ("automux", "optuna")))
    """)
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    score, modules = out.stdout.strip().splitlines()
    assert float(score) == pytest.approx(record.score, abs=1e-9)
    assert modules == "[]"


def test_lightgbm_candidate_rebuilds_with_lightgbm_alone(optuna_run):
    store, record = optuna_run
    lgbm = [c for c in record.candidates if c.algorithm == "lightgbm" and c.cv_score is not None]
    assert lgbm, "the seeded 12-trial search proposes LightGBM candidates"
    best = max(lgbm, key=lambda c: c.cv_score)
    d = promote(record.run_id, store=store, candidate=best.index, seeds=2)
    assert NOT_REPRODUCIBLE not in d["codes"], d["reason"]
    assert "lightgbm" in _imports(Path(d["code_path"]))
    assert d["scores"]["revalidated"]["per_seed"][0]["fold_scores"] == pytest.approx(best.fold_scores, abs=1e-9)
    assert d["scores"]["reported"]["holdout"] is None  # the hold-out was recorded for the chosen candidate only


def test_rebuild_that_disagrees_with_the_record_is_refused(store):
    record = automux.run("sklearn:breast_cancer", backend="fake-misreporting", budget_trials=2, seed=3, store=store,
                         inline=True)
    d = promote(record.run_id, store=store, seeds=2)
    assert d["status"] == REFUSED
    assert d["codes"][0] == NOT_REPRODUCIBLE
    assert "fold 0" in d["reason"] and "rebuilt" in d["reason"]
    assert store.list(promoted=True) == []
    assert json.loads((store.run_dir(record.run_id) / "promotion.json").read_text())["status"] == REFUSED


def test_candidate_file_that_imports_automux_is_refused(store):
    record = automux.run("sklearn:iris", backend="fake-automux-importing", budget_trials=2, seed=1, store=store,
                         inline=True)
    d = promote(record.run_id, store=store, seeds=1)
    assert d["status"] == REFUSED and d["codes"] == [NOT_REPRODUCIBLE]
    assert "may not be imported by a promoted candidate" in d["reason"]


def test_gain_inside_the_noise_is_refused_on_the_cli(tmp_path):
    store = RunStore(tmp_path)
    record = automux.run("sklearn:breast_cancer", backend="reference", budget_trials=2, seed=2, store=store,
                         inline=True)
    assert record.candidates[record.chosen].algorithm == "linear"  # the baseline itself
    proc = run_cli("--store", str(tmp_path), "promote", record.run_id, "--seeds", "2", "--json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == REFUSED and out["codes"] == [FRAGILE_GAIN]
    assert "no gain" in out["reason"]
    assert out["scores"]["revalidated"]["per_seed"][0]["holdout"] == pytest.approx(record.score, abs=1e-9)


def test_worse_than_reported_rule_with_a_fake_revalidation(store):
    """The decision rule alone, fed a fabricated re-validation (named fake): seed 0 agrees, others are worse."""
    record = automux.run("sklearn:breast_cancer", backend="reference", budget_trials=3, seed=4, store=store,
                         inline=True)
    from automux.core.run.verify import experiment_from_record
    exp = experiment_from_record(record, store)
    readiness = gate._baselines(record, exp)
    cand = record.candidates[record.chosen]
    folds = list(cand.fold_scores)

    def fake_reval(drop):
        per_seed = [{"seed": 1, "fold_scores": folds, "cv": float(np.mean(folds)), "holdout": record.score}]
        for s in (2, 3):
            worse = [f - drop for f in folds]
            per_seed.append({"seed": s, "fold_scores": worse, "cv": float(np.mean(worse)),
                             "holdout": record.score - drop})
        return {"per_seed": per_seed, "modules": ["sklearn"]}

    judged = gate._judge(record, record.chosen, fake_reval(0.05), readiness, greater_is_better=True)
    codes = [r["code"] for r in judged["reasons"]]
    assert WORSE_THAN_REPORTED in codes and NOT_REPRODUCIBLE not in codes
    tiny = gate._judge(record, record.chosen, fake_reval(1e-6), readiness, greater_is_better=True)
    assert WORSE_THAN_REPORTED not in [r["code"] for r in tiny["reasons"]]
    broken = dict(fake_reval(0.0))
    broken["per_seed"][0] = dict(broken["per_seed"][0], holdout=record.score - 0.01)
    judged = gate._judge(record, record.chosen, broken, readiness, greater_is_better=True)
    assert judged["reasons"][0]["code"] == NOT_REPRODUCIBLE and "hold-out" in judged["reasons"][0]["detail"]


def test_backend_without_rebuild_promotes_its_own_model_and_says_so(xor_csv, store):
    record = automux.run(str(xor_csv), "y", "fake-no-rebuild", budget_trials=3, seed=5, store=store, inline=True)
    d = promote(record.run_id, store=store, seeds=5)
    assert d["status"] == PROMOTED, d["reason"]
    assert d["rebuild"] == "backend_model" and d["code_path"] is None
    assert "no explicit rebuild" in d["note"]
    with pytest.raises(PromotionError, match="only its stored model"):
        promote(record.run_id, store=store, candidate=0)
    model = next((store.run_dir(record.run_id) / "model").iterdir())
    model.write_bytes(model.read_bytes() + b"tampered")
    d = promote(record.run_id, store=store)
    assert d["status"] == REFUSED and d["codes"] == [NOT_REPRODUCIBLE] and "changed" in d["reason"]
    assert store.list(promoted=True) == []  # the latest decisions rule the index


def test_what_cannot_go_through_the_gate(store, tmp_path):
    record = automux.run("sklearn:iris", backend="reference", budget_trials=1, seed=1, store=store, inline=True)
    with pytest.raises(PromotionError, match="not 7"):
        promote(record.run_id, store=store, candidate=7)
    failed = dataclasses.replace(record, run_id=record.run_id, status="failed", chosen=None)
    store.save(failed)
    with pytest.raises(PromotionError, match="nothing to promote"):
        promote(record.run_id, store=store)
    proc = run_cli("--store", str(store.root), "promote", record.run_id)
    assert proc.returncode == 2 and "nothing to promote" in proc.stderr and "Traceback" not in proc.stderr
