"""Out-of-fold predictions in the contract (issue 16): the worker writes oof.arrow, the record says where from,
and the conformance check catches OOF predictions that saw their fold (leaky fakes) and passes honest ones."""
from __future__ import annotations

import numpy as np
import pytest

import automux
from automux.contracts.checks_oof import check_oof_never_saw_the_fold
from automux.contracts.context import ContractConfig, ContractContext
from automux.contracts.results import CheckFailed, CheckSkipped
from automux.core.run import jobfiles as jf
from automux.core.run.execute import execute

pytest.importorskip("sklearn")


def test_a_reference_run_records_its_own_fold_models_oof_predictions_on_its_own_folds(store):
    # Issue 22: the reference adapter returns the chosen candidate's fold predictions (source "adapter"),
    # no second training; before, the worker refitted the candidate per fold (source "refit").
    exp = automux.experiment("sklearn:breast_cancer", "target", budget_trials=3, seed=3)
    rec = execute(exp, "reference", store=store)
    assert rec.status == "ok"
    info = rec.extra["oof"]
    assert info["available"] and info["source"] == "adapter", info
    assert jf.OOF in rec.artifacts
    run_dir = store.run_dir(rec.run_id)
    oof = jf.predictions_array(jf.read_arrow(run_dir / jf.OOF), "binary")
    assert oof.shape == (len(exp.split.train), 2) and np.allclose(oof.sum(axis=1), 1.0)
    assert info["covered_rows"] == len(exp.split.train)
    # Per-fold scores of the OOF predictions are the chosen candidate's recorded fold scores (same folds, seed).
    chosen = rec.candidates[rec.chosen]
    assert info["reproduces_fold_scores"] is True
    np.testing.assert_allclose(info["fold_scores"], chosen.fold_scores, rtol=1e-9)
    # And they are computed on automux's folds: fold k's rows are exactly the split's fold k.
    from automux.core.experiment.metrics import get_metric
    metric = get_metric(rec.metric, "binary")
    y = exp.dataset.y[np.asarray(exp.split.train)]
    for (_, valid), recorded in zip(exp.split.fold_pairs(), chosen.fold_scores):
        assert metric(y[valid], oof[valid]) == pytest.approx(recorded, rel=1e-9)
    # The worker's refit from the candidate's stand-alone source (what other backends get) gives the same array.
    from automux.core.registry import get_adapter
    from automux.core.run import oof as oof_mod
    X = exp.dataset.X.iloc[np.asarray(exp.split.train)].reset_index(drop=True)
    source = get_adapter("reference").candidate_source(chosen, "binary", {str(c): "numeric" for c in X.columns},
                                                       rec.spec.seeds["backend"])
    again = oof_mod.refit_per_fold(source, X, y, exp.split.fold_pairs(), "binary", 2, rec.spec.seeds["backend"])
    np.testing.assert_allclose(again, oof, rtol=1e-9, atol=1e-12)


def test_a_backend_without_oof_or_source_says_why(store, fakes_on_path):
    from fake_oof_adapters import FakeNoSourceAdapter

    exp = automux.experiment("sklearn:breast_cancer", "target", budget_trials=2, seed=1)
    rec = execute(exp, FakeNoSourceAdapter(), store=store, oof=True)  # issue 22: a refit only when asked
    assert rec.status == "ok"
    assert rec.extra["oof"]["available"] is False
    assert "no candidate_source" in rec.extra["oof"]["reason"]
    assert jf.OOF not in rec.artifacts and not (store.run_dir(rec.run_id) / jf.OOF).exists()


def _ctx(adapter):
    return ContractContext(adapter, ContractConfig(trials=2))


def test_the_oof_check_passes_the_honest_fake(fakes_on_path):
    from fake_oof_adapters import FakeHonestOOFAdapter

    note = check_oof_never_saw_the_fold(FakeHonestOOFAdapter(), _ctx(FakeHonestOOFAdapter()))
    assert "from adapter" in note and "reproduce the chosen" in note


def test_the_oof_check_fails_in_sample_predictions_passed_off_as_oof(fakes_on_path):
    from fake_oof_adapters import FakeLeakyOOFAdapter

    with pytest.raises(CheckFailed, match="saw every fold"):
        check_oof_never_saw_the_fold(FakeLeakyOOFAdapter(), _ctx(FakeLeakyOOFAdapter()))


def test_the_oof_check_fails_fold_models_that_saw_their_fold(fakes_on_path):
    from fake_oof_adapters import FakeFoldPeekingOOFAdapter

    with pytest.raises(CheckFailed, match="score better than the chosen candidate's fold models"):
        check_oof_never_saw_the_fold(FakeFoldPeekingOOFAdapter(), _ctx(FakeFoldPeekingOOFAdapter()))


def test_the_oof_check_skips_an_adapter_that_gives_none_with_its_reason(fakes_on_path):
    from fake_oof_adapters import FakeNoSourceAdapter

    with pytest.raises(CheckSkipped, match="no candidate_source"):
        check_oof_never_saw_the_fold(FakeNoSourceAdapter(), _ctx(FakeNoSourceAdapter()))


@pytest.mark.parametrize("backend", ["reference", "optuna"])
def test_the_oof_check_passes_first_party_adapters(backend):
    from automux.core.registry import get_adapter

    pytest.importorskip({"reference": "sklearn"}.get(backend, backend))
    adapter = get_adapter(backend)
    note = check_oof_never_saw_the_fold(adapter, _ctx(adapter))
    assert "from adapter" in note  # issue 22: their own fold models' predictions, no refit


def test_the_worker_refits_a_candidate_source_per_fold(store, fakes_on_path):
    from fake_oof_adapters import FakeSourceAdapter

    exp = automux.experiment("sklearn:iris", "target", budget_trials=2, seed=2)
    rec = execute(exp, FakeSourceAdapter(), store=store, oof=True)  # issue 22: a refit only when asked
    info = rec.extra["oof"]
    assert rec.status == "ok" and info["available"] and info["source"] == "refit", info
    assert info["reproduces_fold_scores"] is True  # a prior per fold: the very predictions the search scored
    oof = jf.predictions_array(jf.read_arrow(store.run_dir(rec.run_id) / jf.OOF), "multiclass")
    y = exp.dataset.y[np.asarray(exp.split.train)]
    for fit, valid in exp.split.fold_pairs():  # each fold's rows get the class shares of the other folds
        want = np.bincount(y[fit], minlength=3) / len(fit)
        np.testing.assert_allclose(oof[valid], np.tile(want, (len(valid), 1)), rtol=1e-12)


def test_no_oof_refit_when_it_would_overrun_the_hard_stop(store, fakes_on_path):
    from fake_oof_adapters import FakeSourceAdapter

    exp = automux.experiment("sklearn:iris", "target", budget_trials=2, seed=2, timeout_s=60)
    rec = execute(exp, FakeSourceAdapter(), store=store, options={"fit_time_s": 1e6}, oof=True)
    assert rec.status == "ok"
    assert rec.extra["oof"]["available"] is False and "no time left" in rec.extra["oof"]["reason"]


def test_a_failing_refit_is_a_reason_never_a_failed_run(store, fakes_on_path):
    from fake_oof_adapters import FakeBrokenSourceAdapter

    exp = automux.experiment("sklearn:iris", "target", budget_trials=2, seed=2)
    rec = execute(exp, FakeBrokenSourceAdapter(), store=store, oof=True)
    assert rec.status == "ok" and rec.extra["oof"]["available"] is False
    assert "broken on purpose" in rec.extra["oof"]["reason"]
