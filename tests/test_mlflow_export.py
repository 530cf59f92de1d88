"""MLflow export: a plugin on the run-event hooks, off by default, read back through MLflow's own client."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import automux
from automux.core import plugins
from automux.integrations import mlflow_export

mlflow = pytest.importorskip("mlflow", reason="needs the mlflow extra: pip install 'automux[mlflow]'")


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv(mlflow_export.ENV_URI, uri)
    monkeypatch.setenv(mlflow_export.ENV_EXPERIMENT, "automux-test")
    monkeypatch.delenv(mlflow_export.ENV_ARTIFACTS, raising=False)
    plugins.reset()  # load the entry points afresh, the mlflow plugin among them
    yield uri
    plugins.reset()


def test_plugin_is_registered_through_the_entry_point(tracking):
    assert plugins.get_manager().get_plugin("mlflow") is mlflow_export
    assert not [f for f in plugins.load_failures() if f[0] == "mlflow"]


def test_finished_run_is_exported_and_read_back(tracking, tmp_path):
    from mlflow.tracking import MlflowClient

    record = automux.run("sklearn:breast_cancer", backend="reference", budget_trials=3, seed=4,
                         store=tmp_path / "runs", inline=True)
    assert record.status == "ok"
    found = mlflow_export.find_run(record.run_id, tracking, "automux-test")
    assert found is not None
    client = MlflowClient(tracking_uri=tracking)
    run = client.get_run(found.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())  # beside the database

    p = run.data.params
    assert p["backend"] == "reference" and p["spec_id"] == record.spec_id
    assert p["seeds.backend"] == str(record.spec.seeds["backend"]) and p["seed"] == "4"
    assert p["budget.trials"] == "3" and p["budget.seconds"] == "None"
    assert p["data.source"] == "sklearn:breast_cancer" and p["data.fingerprint"] == record.spec.data["fingerprint"]
    assert p["split.n_folds"] == "5" and p["metric"] == "roc_auc"
    assert p["env.fingerprint"] == record.env["fingerprint"]

    m = run.data.metrics
    assert m["holdout.roc_auc"] == pytest.approx(record.score)
    assert m["holdout.log_loss"] == pytest.approx(record.scores["log_loss"])
    chosen = record.candidates[record.chosen]
    history = client.get_metric_history(run.info.run_id, "fold.roc_auc")
    assert [h.value for h in sorted(history, key=lambda h: h.step)] == pytest.approx(chosen.fold_scores)
    assert [h.step for h in sorted(history, key=lambda h: h.step)] == [0, 1, 2, 3, 4]
    assert m["cv.roc_auc"] == pytest.approx(chosen.cv_score)
    assert len(client.get_metric_history(run.info.run_id, "candidate_cv.roc_auc")) == 3

    t = run.data.tags
    assert t["automux.run_id"] == record.run_id and t["automux.status"] == "ok"
    assert t["automux.predictions_sha256"] == record.predictions_sha256

    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert names == {"record.json", "leaderboard.csv", "model"}  # issue 26: an ok run logs its model
    local = client.download_artifacts(run.info.run_id, "record.json", str(tmp_path / "dl"))
    with open(local, encoding="utf-8") as f:
        back = automux.RunRecord.from_json(json.load(f))
    assert back.run_id == record.run_id and back.candidates == record.candidates
    board = client.download_artifacts(run.info.run_id, "leaderboard.csv", str(tmp_path / "dl"))
    with open(board, encoding="utf-8") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    assert len(rows) == 3 and rows[0]["index"] == str(record.chosen) and rows[0]["chosen"] == "True"

    # the chosen candidate as params, MLflow's times from the record (not the export time)
    assert p["chosen.algorithm"] == chosen.algorithm and t["automux.chosen.algorithm"] == chosen.algorithm
    assert all(p[f"chosen.params.{k}"] == str(v) for k, v in chosen.params.items() if not isinstance(v, dict))
    from datetime import datetime
    assert run.info.start_time == int(datetime.fromisoformat(record.created_utc).timestamp() * 1000)
    assert run.info.end_time - run.info.start_time == pytest.approx(record.durations["total"] * 1000, abs=1)

    # candidates as child runs, each with its fold scores
    children = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert sorted(int(c.data.tags["automux.candidate"]) for c in children) == [0, 1, 2]
    for c in children:
        cand = record.candidates[int(c.data.tags["automux.candidate"])]
        hist = sorted(client.get_metric_history(c.info.run_id, "fold.roc_auc"), key=lambda h: h.step)
        assert [h.value for h in hist] == pytest.approx(cand.fold_scores)
        assert c.data.params["algorithm"] == cand.algorithm and c.info.status == "FINISHED"
        assert c.data.tags["automux.chosen"] == str(cand.index == record.chosen).lower()

    # exporting again does not duplicate the run (nor its children)
    assert mlflow_export.export_run(record, tracking, "automux-test") == run.info.run_id
    parents = client.search_runs([run.info.experiment_id], f"tags.`{mlflow_export.RUN_ID_TAG}` = '{record.run_id}'")
    assert len(parents) == 1 and len(client.search_runs([run.info.experiment_id])) == 1 + 3


def test_failed_run_is_exported_as_failed(tracking, tmp_path):
    from mlflow.tracking import MlflowClient

    ok = automux.run("sklearn:iris", backend="reference", budget_trials=1, seed=1, store=tmp_path / "runs",
                     inline=True)
    failed = dataclasses.replace(ok, run_id=ok.run_id + "-failed", status="crashed", error="worker killed",
                                 scores={}, score=None)
    plugins.get_manager().hook.automux_run_failed(run_id=failed.run_id, backend=failed.backend, spec=failed.spec,
                                                  record=failed, error="worker killed",
                                                  run_dir=str(tmp_path / "runs" / ok.run_id))
    run = mlflow_export.find_run(failed.run_id, tracking, "automux-test")
    assert run is not None and run.info.status == "FAILED"
    assert run.data.tags["automux.error"] == "worker killed" and "holdout.log_loss" not in run.data.metrics
    client = MlflowClient(tracking_uri=tracking)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"record.json", "leaderboard.csv"}


def test_bad_tracking_uri_never_fails_the_run(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv(mlflow_export.ENV_URI, "nosuchscheme://nowhere")
    plugins.reset()
    try:
        record = automux.run("sklearn:iris", backend="reference", budget_trials=1, seed=1, store=tmp_path,
                             inline=True)
    finally:
        plugins.reset()
    assert record.status == "ok"
    assert "MLflow export of run" in capfd.readouterr().err


def test_export_is_off_unless_configured(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMUX_MLFLOW")}
    script = textwrap.dedent(f"""
        import sys, automux
        r = automux.run("sklearn:iris", backend="reference", budget_trials=1, store={str(tmp_path)!r}, inline=True)
        from automux.core import plugins
        assert plugins.get_manager().get_plugin("mlflow") is not None
        print(r.status, "mlflow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=str(tmp_path),
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].split() == ["ok", "False"]
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "mlruns").exists()


def test_pyfunc_model_round_trip_gives_automux_own_predictions(tracking, tmp_path):
    """mlflow.pyfunc.load_model("runs:/.../model").predict(df) gives the numbers automux predict gives."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    store = tmp_path / "runs"
    record = automux.run("sklearn:breast_cancer", backend="reference", budget_trials=2, seed=2, store=store,
                         inline=True)
    assert record.status == "ok"
    run = mlflow_export.find_run(record.run_id, tracking, "automux-test")
    mlflow.set_tracking_uri(tracking)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target").sample(9, random_state=0)
    got = model.predict(frame)
    ours = automux.predict(record.run_id, frame, store=store)
    want = pd.read_csv(ours["predictions"])
    assert list(got.columns) == list(want.columns) == [str(c) for c in record.spec.data["classes"]]
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert not np.allclose(got.to_numpy()[:, 0], got.to_numpy()[0, 0])  # a real model, not a constant
    # signature and input example: the user's column names, the first training rows
    sig = model.metadata.signature
    assert sig.inputs.input_names() == list(frame.columns)
    assert sig.outputs.input_names() == list(want.columns)
    local = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model", tracking_uri=tracking,
                                                dst_path=str(tmp_path / "model"))
    example = mlflow.models.Model.load(local).load_input_example(local)
    assert list(example.columns) == list(frame.columns) and len(example) == 5
    reqs = (Path(local) / "requirements.txt").read_text().split()
    assert f"automux=={automux.__version__}" in reqs and "scikit-learn>=1.3" in reqs  # the reference's own pin


def test_runs_made_before_the_variable_was_set_are_exported_by_the_cli(tmp_path, monkeypatch):
    """``automux runs export-mlflow``: a run stored (and put through the promotion gate) with export off."""
    from mlflow.tracking import MlflowClient

    from helpers import run_cli

    monkeypatch.delenv(mlflow_export.ENV_URI, raising=False)
    plugins.reset()
    store = tmp_path / "runs"
    try:
        a = automux.run("sklearn:iris", backend="reference", budget_trials=2, seed=3, store=store, inline=True)
        decision = automux.promote(a.run_id, store=store, seeds=2)  # promoted or refused: either is exported
    finally:
        plugins.reset()
    uri = f"sqlite:///{tmp_path / 'later.db'}"
    assert mlflow_export.find_run(a.run_id, uri) is None
    proc = run_cli("--store", str(store), "runs", "export-mlflow", "--tracking-uri", uri, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    assert [r["run_id"] for r in rows] == [a.run_id] and rows[0]["status"] == "ok"
    found = mlflow_export.find_run(a.run_id, uri)
    assert found is not None and found.info.run_id == rows[0]["mlflow_run_id"]
    client = MlflowClient(tracking_uri=uri)
    assert {x.path for x in client.list_artifacts(found.info.run_id)} == {"record.json", "leaderboard.csv", "model"}
    assert found.data.tags["automux.promotion.status"] == decision["status"]
    again = run_cli("--store", str(store), "runs", "export-mlflow", a.run_id, "--tracking-uri", uri, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)[0]["mlflow_run_id"] == found.info.run_id
    bad = run_cli("--store", str(store), "runs", "export-mlflow", "20990101T000000-deadbeef", "--tracking-uri", uri)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    none = run_cli("--store", str(store), "runs", "export-mlflow", env={mlflow_export.ENV_URI: ""})
    assert none.returncode == 2 and "--tracking-uri" in none.stderr


def test_ensembles_and_verify_reruns_are_exported(tracking, tmp_path):
    """An ensemble run is exported with a pyfunc model that predicts through its members; a verify rerun is
    tagged with the run it reran."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    from automux.core.run.execute import execute
    from automux.core.run.store import RunStore

    store = RunStore(tmp_path / "runs")
    exp = automux.experiment("sklearn:breast_cancer", "target", budget_trials=2, seed=11, metric="log_loss")
    recs = [execute(exp, b, store=store, inline=True) for b in ("reference", "optuna")]
    assert [r.status for r in recs] == ["ok", "ok"], [r.error for r in recs]
    ens = automux.ensemble([r.run_id for r in recs], store=store)
    run = mlflow_export.find_run(ens.run_id, tracking, "automux-test")
    assert run is not None and run.data.tags["automux.backend"] == ens.backend
    model = mlflow.pyfunc.load_model(mlflow.artifacts.download_artifacts(
        f"runs:/{run.info.run_id}/model", tracking_uri=tracking, dst_path=str(tmp_path / "ens-model")))
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(6)
    want = pd.read_csv(automux.predict(ens.run_id, frame, store=store)["predictions"])
    np.testing.assert_array_equal(model.predict(frame).to_numpy(), want.to_numpy())

    out = automux.verify(recs[0].run_id, store=store, inline=True)
    rerun = mlflow_export.find_run(out["rerun_id"], tracking, "automux-test")
    assert rerun is not None and rerun.data.tags["automux.verifies"] == recs[0].run_id
