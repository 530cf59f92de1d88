"""Cross-backend ensembles (issue 16): greedy selection on the members' out-of-fold predictions, stored as a run,
predicted through each member's own predict path, verified by rebuilding it from the stored OOF."""
from __future__ import annotations

import json

import numpy as np
import pytest

import automux
from automux.core.experiment.metrics import get_metric
from automux.governance.ensemble import (ENSEMBLE_BACKEND, EnsembleError, build_ensemble, greedy_selection,
                                   weighted_average)
from automux.core.run import jobfiles as jf
from automux.core.run.execute import execute

pytest.importorskip("sklearn")
pytest.importorskip("optuna")

DATA = "sklearn:breast_cancer"


def _cli(*argv):
    """``automux ...`` in this process, with the ensemble command registered even before the lead wires it."""
    import automux.cli as cli

    if "ensemble" not in cli.COMMAND_MODULES:
        cli.COMMAND_MODULES = tuple(cli.COMMAND_MODULES) + ("ensemble",)
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """A reference and an Optuna run of one spec (log_loss, so the two models' probabilities differ)."""
    from automux.core.run.store import RunStore

    store = RunStore(tmp_path_factory.mktemp("ens") / "runs")
    exp = automux.experiment(DATA, "target", budget_trials=3, seed=11, metric="log_loss")
    recs = [execute(exp, b, store=store) for b in ("reference", "optuna")]
    assert [r.status for r in recs] == ["ok", "ok"], [r.error for r in recs]
    assert all(r.extra["oof"]["available"] for r in recs), [r.extra["oof"] for r in recs]
    return store, exp, recs


def test_greedy_selection_is_never_worse_than_its_best_member_and_can_beat_it():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    # two noisy, differently wrong members: their average is better than either
    noise = [rng.normal(0, 1.5, 400) for _ in range(2)]
    oofs = []
    for e in noise:
        p1 = 1 / (1 + np.exp(-(2 * (y - 0.5) * 2 + e)))
        oofs.append(np.c_[1 - p1, p1])
    metric = get_metric("log_loss", "binary")
    sel = greedy_selection(oofs, y, metric, size=10)
    singles = [metric(y, o) for o in oofs]
    assert sel["score"] <= min(singles)
    assert sel["score"] < min(singles) - 1e-3 and all(c > 0 for c in sel["counts"])
    assert sel["score"] == metric(y, weighted_average(oofs, sel["counts"]))
    # a useless member (the prior) is never picked over the best one
    prior = np.tile([0.5, 0.5], (400, 1))
    sel2 = greedy_selection([prior, oofs[0]], y, metric, size=5)
    assert sel2["score"] <= singles[0] and sel2["counts"][1] >= sel2["counts"][0]


def test_an_ensemble_of_reference_and_optuna_is_stored_as_a_run(members):
    store, exp, recs = members
    ens = build_ensemble([r.run_id for r in recs], store=store)
    assert ens.backend == ENSEMBLE_BACKEND and ens.status == "ok" and ens.spec_id == recs[0].spec_id
    info = ens.extra["ensemble"]
    assert [m["run_id"] for m in info["members"]] == [r.run_id for r in recs]
    assert sum(info["counts"]) == info["best_step"] and abs(sum(info["weights"]) - 1) < 1e-12
    assert [c.params["run_id"] for c in ens.candidates] == [r.run_id for r in recs]
    # never worse than its best member on the OOF metric
    metric = get_metric("log_loss", "binary")
    assert not metric.better(info["best_member"]["oof_score"], info["oof_score"])
    assert info["oof_score"] <= min(m["oof_score"] for m in info["members"])
    # the hold-out predictions are the weighted average of the members' stored ones, scored by automux
    holds = [jf.predictions_array(jf.read_arrow(store.run_dir(r.run_id) / jf.PREDICTIONS), "binary") for r in recs]
    expected = sum(w * h for w, h in zip(info["weights"], holds))
    stored = jf.predictions_array(jf.read_arrow(store.run_dir(ens.run_id) / jf.PREDICTIONS), "binary")
    np.testing.assert_allclose(stored, expected, rtol=1e-12, atol=1e-15)
    y_hold = exp.dataset.y[np.asarray(exp.split.holdout)]
    assert ens.score == pytest.approx(metric(y_hold, stored), rel=1e-12)
    assert ens.predictions_sha256 == jf.predictions_sha256(stored)
    assert {"predictions.arrow", "oof.arrow", "ensemble.json"} <= set(ens.artifacts)
    # the store sees it
    rows = {r["run_id"]: r for r in store.list()}
    assert rows[ens.run_id]["backend"] == "ensemble"
    assert store.load(ens.run_id).extra["ensemble"]["weights"] == info["weights"]


def test_predict_and_verify_an_ensemble_through_the_cli(members, tmp_path, capsys):
    store, exp, recs = members
    capsys.readouterr()
    assert _cli("--store", store.root, "ensemble", *[r.run_id for r in recs], "--json") == 0
    out = json.loads(capsys.readouterr().out)
    ens_id = out["run_id"]
    assert out["backend"] == "ensemble" and len(out["members"]) == 2
    # automux predict on the ensemble's own hold-out rows gives its hash back (each member via its own predict job)
    hold = exp.dataset.X.iloc[list(exp.split.holdout)]
    csv = tmp_path / "hold.csv"
    hold.to_csv(csv, index=False, float_format="%.17g")
    assert _cli("--store", store.root, "predict", ens_id, "--data", csv, "--json") == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["status"] == "ok" and pred["rows"] == len(hold)
    assert pred["predictions_sha256"] == out["predictions_sha256"]
    used = [m for m in pred["members"] if not m.get("skipped")]
    assert used and all(m["status"] == "ok" for m in used)
    # verify rebuilds it from the members' stored OOF: identical
    assert _cli("--store", store.root, "verify", ens_id, "--json") == 0
    ver = json.loads(capsys.readouterr().out)
    assert ver["verdict"] == "identical", ver
    assert _cli("--store", store.root, "runs", "show", ens_id) == 0


def test_members_of_different_specs_are_refused_in_one_line(members, capsys):
    store, _, recs = members
    other = execute(automux.experiment(DATA, "target", budget_trials=2, seed=12, metric="log_loss"), "reference",
                    store=store)
    with pytest.raises(EnsembleError, match="different specs"):
        build_ensemble([recs[0].run_id, other.run_id], store=store)
    capsys.readouterr()
    assert _cli("--store", store.root, "ensemble", recs[0].run_id, other.run_id) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different specs" in err[0]


def test_degenerate_member_lists_are_refused(members):
    store, _, recs = members
    with pytest.raises(EnsembleError, match="at least two"):
        build_ensemble([recs[0].run_id], store=store)
    with pytest.raises(EnsembleError, match="given twice"):
        build_ensemble([recs[0].run_id, recs[0].run_id], store=store)
    ens = build_ensemble([r.run_id for r in recs], store=store, size=3)
    with pytest.raises(EnsembleError, match="itself an ensemble"):
        build_ensemble([ens.run_id, recs[0].run_id], store=store)


def test_a_member_without_oof_is_refused_with_the_reason(members, fakes_on_path):
    from fake_oof_adapters import FakeNoSourceAdapter

    store, exp, recs = members
    rec = execute(exp, FakeNoSourceAdapter(), store=store, oof=True)  # a refit asked for, and impossible
    assert rec.status == "ok" and rec.spec_id == recs[0].spec_id
    with pytest.raises(EnsembleError, match="no out-of-fold predictions: .*no candidate_source"):
        build_ensemble([recs[0].run_id, rec.run_id], store=store)


def test_a_tampered_member_oof_is_refused(members):
    from automux.core.errors import ArtifactTampered

    store, exp, _ = members
    rec = execute(exp, "reference", store=store)
    path = store.run_dir(rec.run_id) / jf.OOF
    frame = jf.read_arrow(path)
    frame.iloc[0, 0] = 0.5
    frame.iloc[0, 1] = 0.5
    jf.write_arrow(frame, path)
    with pytest.raises(ArtifactTampered):
        build_ensemble([members[2][0].run_id, rec.run_id], store=store)


@pytest.mark.slow
def test_an_ensemble_across_two_envs_predicts_through_automux_predict(tmp_path, capsys):
    """reference + optuna (main env) + pycaret (its isolated Python 3.11 env): one ensemble, one predict."""
    from automux.core.run.store import RunStore

    assert _cli("env", "build", "pycaret") == 0, "automux env build pycaret failed"
    store = RunStore(tmp_path / "runs")
    exp = automux.experiment(DATA, "target", budget_trials=2, seed=5)
    # pycaret gives no out-of-fold predictions from its search: the refit is asked for, as compare --ensemble does
    recs = [execute(exp, b, store=store, oof=True) for b in ("reference", "optuna", "pycaret")]
    assert [r.status for r in recs] == ["ok"] * 3, [r.error for r in recs]
    assert recs[2].env["automux_env"].get("isolated") and not recs[0].env["automux_env"].get("isolated")
    assert all(r.extra["oof"]["available"] for r in recs), [r.extra["oof"] for r in recs]
    ens = build_ensemble([r.run_id for r in recs], store=store, size=10)
    info = ens.extra["ensemble"]
    assert info["oof_score"] >= max(m["oof_score"] for m in info["members"])  # roc_auc: greater is better
    capsys.readouterr()
    assert _cli("--store", store.root, "predict", ens.run_id, "--data", DATA, "--json") == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["status"] == "ok" and pred["rows"] == len(exp.dataset.X)
    by_backend = {m["backend"]: m for m in pred["members"] if not m.get("skipped")}
    assert all(m["status"] == "ok" for m in by_backend.values())
    assert len({m["env"] for m in by_backend.values()}) >= 2, f"one env only among the selected members: {by_backend}"
    # the average of the members' own `automux predict` outputs, by the recorded counts
    from automux.core.run.predict import predict as predict_run
    singles, counts = [], []
    for m in info["members"]:
        if m["count"]:
            r = predict_run(m["run_id"], DATA, store=store)
            singles.append(jf.predictions_array(jf.read_arrow(r["predictions_arrow"]), "binary"))
            counts.append(m["count"])
    got = jf.predictions_array(jf.read_arrow(pred["predictions_arrow"]), "binary")
    assert jf.predictions_sha256(got) == jf.predictions_sha256(weighted_average(singles, counts))


def test_compare_with_ensemble_stores_the_ensemble_of_its_runs(tmp_path, capsys):
    store = tmp_path / "runs"
    capsys.readouterr()
    rc = _cli("--store", store, "compare", "--data", "sklearn:iris", "--target", "target", "--backends",
              "reference,optuna", "--budget-trials", "2", "--seed", "4", "--no-check", "--ensemble", "--json")
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    ens = out["ensemble"]
    assert ens["backend"] == "ensemble" and ens["status"] == "ok"
    from automux.core.run.store import RunStore
    rec = RunStore(store).load(ens["run_id"])
    assert rec.spec_id == out["spec_id"]
    assert sorted(m["run_id"] for m in rec.extra["ensemble"]["members"]) == \
        sorted(r["run_id"] for r in out["results"])
