"""One bad plugin harms nobody: a plugin that raises in every hook leaves the MLflow export and other plugins working."""
from __future__ import annotations

from typing import List

import pytest

import automux
from automux.core import plugins, registry
from automux.core.hookspecs import hookimpl

mlflow = pytest.importorskip("mlflow", reason="needs the mlflow extra: pip install 'automux[mlflow]'")


class RaisingEverywhereFake:
    """A fake plugin whose every hook implementation raises."""

    @hookimpl
    def automux_adapters(self):
        raise RuntimeError("boom in adapters")

    @hookimpl
    def automux_dataset_loaders(self):
        raise RuntimeError("boom in loaders")

    @hookimpl
    def automux_run_started(self, run_id, backend, spec):
        raise RuntimeError("boom in started")

    @hookimpl
    def automux_run_candidate(self, run_id, backend, candidate):
        raise RuntimeError("boom in candidate")

    @hookimpl
    def automux_run_finished(self, run_id, backend, spec, record):
        raise RuntimeError("boom in finished")

    @hookimpl
    def automux_run_failed(self, run_id, backend, spec, record, error):
        raise RuntimeError("boom in failed")

    @hookimpl
    def automux_selector_rules(self):
        raise RuntimeError("boom in rules")


class RecorderFake:
    """A well-behaved fake plugin that notes every run event it sees."""

    def __init__(self) -> None:
        self.events: List[str] = []

    @hookimpl
    def automux_run_started(self, run_id):
        self.events.append("started")

    @hookimpl
    def automux_run_candidate(self, candidate):
        self.events.append("candidate")

    @hookimpl
    def automux_run_finished(self, record):
        self.events.append("finished")


class BadRuleFake:
    """A fake plugin contributing a selector rule that raises when applied."""

    @hookimpl
    def automux_selector_rules(self):
        from automux.select.rules import Rule

        def apply(p, c, b):
            raise ValueError("rule boom")
        return [Rule(name="explodes", kind="soft", apply=apply)]


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    from automux.integrations import mlflow_export

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv(mlflow_export.ENV_URI, uri)
    monkeypatch.setenv(mlflow_export.ENV_EXPERIMENT, "automux-isolation")
    plugins.reset()
    yield uri
    plugins.reset()


def test_a_plugin_raising_in_every_hook_harms_nobody(tracking, tmp_path):
    from automux.integrations import mlflow_export

    recorder = RecorderFake()
    plugins.register(RaisingEverywhereFake(), name="raising")
    plugins.register(recorder, name="recorder")
    assert "reference" in registry.adapters()  # the adapters hook of the bad plugin is skipped, not fatal
    record = automux.run("sklearn:iris", backend="reference", budget_trials=2, store=str(tmp_path / "runs"),
                         readiness=False)
    assert record.status == "ok"
    assert recorder.events == ["started", "candidate", "candidate", "finished"]
    assert mlflow_export.find_run(record.run_id, tracking, "automux-isolation") is not None
    failures = dict(plugins.load_failures())
    assert "raising" in failures
    hooks = {e.split(" raised")[0] for name, e in plugins.load_failures() if name == "raising"}
    assert {"automux_adapters", "automux_run_started", "automux_run_candidate", "automux_run_finished"} <= hooks


def test_a_selector_rule_that_raises_is_skipped_and_reported(tracking):
    from automux.select.selector import select

    plugins.register(BadRuleFake(), name="badrule")
    sel = select("sklearn:iris")
    assert sel.ranking
    assert any(name == "badrule" and "explodes" in err for name, err in plugins.load_failures())


def test_a_misspelled_hook_is_reported():
    class MisspelledFake:
        @hookimpl
        def automux_run_finishd(self, record):  # the typo is the point
            pass

    from pluggy import PluginValidationError

    with pytest.raises(PluginValidationError):
        plugins.register(MisspelledFake(), name="misspelled")
    assert plugins.get_manager().get_plugin("misspelled") is None
