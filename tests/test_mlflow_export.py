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
    assert names == {"record.json", "leaderboard.csv"}
    local = client.download_artifacts(run.info.run_id, "record.json", str(tmp_path / "dl"))
    with open(local, encoding="utf-8") as f:
        back = automux.RunRecord.from_json(json.load(f))
    assert back.run_id == record.run_id and back.candidates == record.candidates
    board = client.download_artifacts(run.info.run_id, "leaderboard.csv", str(tmp_path / "dl"))
    with open(board, encoding="utf-8") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    assert len(rows) == 3 and rows[0]["index"] == str(record.chosen) and rows[0]["chosen"] == "True"

    # exporting again does not duplicate the run
    assert mlflow_export.export_run(record, tracking, "automux-test") == run.info.run_id
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_failed_run_is_exported_as_failed(tracking, tmp_path):
    from mlflow.tracking import MlflowClient

    ok = automux.run("sklearn:iris", backend="reference", budget_trials=1, seed=1, store=tmp_path / "runs",
                     inline=True)
    failed = dataclasses.replace(ok, run_id=ok.run_id + "-failed", status="crashed", error="worker killed",
                                 scores={}, score=None)
    plugins.get_manager().hook.automux_run_failed(run_id=failed.run_id, backend=failed.backend, spec=failed.spec,
                                                  record=failed, error="worker killed")
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
