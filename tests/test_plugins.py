"""Plugin discovery: entry points, broken plugins reported, the disable switch, documented hooks."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap


from automux.core import hookspecs, plugins, registry
from helpers import run_cli

BACKEND_MODULES = ("optuna", "flaml", "tpot", "h2o", "pycaret", "autosklearn", "sklearn", "lightgbm",
                   "xgboost", "dask", "distributed")


def test_every_hookspec_is_documented():
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("automux_")]
    assert len(specs) >= 6
    for f in specs:
        assert f.__doc__ and len(f.__doc__.strip()) > 20, f.__name__
        assert getattr(f, "automux_spec", None) is not None, f"{f.__name__} is not marked as a hookspec"


def test_first_party_adapters_come_from_entry_points():
    names = {ep.name: ep.value for ep in plugins._entry_points()}
    assert names["reference"] == "automux.adapters.reference"
    assert "reference" in registry.adapters()


def test_import_and_backends_import_no_backend_library():
    code = textwrap.dedent(f"""
        import sys, json
        import automux
        after_import = sorted(m for m in {BACKEND_MODULES!r} if m in sys.modules)
        from automux.cli import main
        import io, contextlib
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["backends", "--json"])
        after_backends = sorted(m for m in {BACKEND_MODULES!r} if m in sys.modules)
        print(json.dumps({{"rc": rc, "import": after_import, "backends": after_backends}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "import": [], "backends": []}


def test_a_broken_plugin_is_reported_and_skipped(tmp_path):
    # A real distribution on sys.path whose entry point fails at import.
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[automux]\nbroken = broken_plugin_mod\n")
    (tmp_path / "broken_plugin_mod.py").write_text("raise RuntimeError('boom at import')\n")
    env = {"PYTHONPATH": str(tmp_path)}
    proc = run_cli("backends", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["broken"]["available"] is False and "boom at import" in rows["broken"]["reason"]
    assert rows["reference"]["available"] is True
    proc = run_cli("backends", "--json", env=dict(env, AUTOMUX_DISABLE_PLUGINS="broken"))
    assert "broken" not in {r["name"] for r in json.loads(proc.stdout)}


def test_disable_all_plugins():
    proc = run_cli("backends", "--json", env={"AUTOMUX_DISABLE_PLUGINS": "*"})
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_duplicate_adapter_names_are_reported_and_the_first_party_adapter_kept():
    from automux.adapters.reference import ReferenceAdapter
    from automux.core.hookspecs import hookimpl

    class ClashingFake(ReferenceAdapter):
        """A fake third-party adapter that takes the first-party name ``reference``."""

    class Clash:
        @hookimpl
        def automux_adapters(self):
            return [ClashingFake()]

    plugins.register(Clash(), name="clash")
    try:
        found = registry.adapters()
        assert type(found["reference"]) is ReferenceAdapter
        dupes = registry.duplicates()
        assert [(d["name"], d["ignored"]["plugin"]) for d in dupes] == [("reference", "clash")]
        assert dupes[0]["kept"]["distribution"] == "automux"
        assert any(name == "clash" and "already registered" in err for name, err in plugins.load_failures())
    finally:
        plugins.unregister("clash")


def test_backends_lists_capabilities_and_reasons():
    proc = run_cli("backends", "--json")
    rows = json.loads(proc.stdout)
    ref = next(r for r in rows if r["name"] == "reference")
    assert ref["capabilities"]["tasks"] == ["binary", "multiclass", "regression"]
    assert ref["env"]["name"] == "main"
    for r in rows:
        assert set(r) == {"name", "available", "reason", "env", "capabilities", "origin"}
        assert r["available"] or r["reason"]


def test_hook_calls_go_through_pluggy_so_its_tracing_sees_them_and_a_failing_plugin_is_isolated():
    code = textwrap.dedent("""
        from automux.core import hookspecs, plugins

        class Fine:
            @hookspecs.hookimpl
            def automux_dataset_loaders(self):
                return {"fine": lambda name: None}

        class Broken:
            @hookspecs.hookimpl
            def automux_dataset_loaders(self):
                raise RuntimeError("boom")

        plugins.register(Fine(), "fine-plugin")
        plugins.register(Broken(), "broken-plugin")
        results = dict(plugins.call_each("automux_dataset_loaders"))
        assert "fine" in results["fine-plugin"] and "broken-plugin" not in results, results
        assert any(n == "broken-plugin" for n, _ in plugins.load_failures())
    """)
    import os
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, AUTOMUX_TRACE_PLUGINS="1"))
    assert proc.returncode == 0, proc.stderr
    # pluggy's hook-call monitoring fired once per plugin, naming it
    assert "plugin trace: automux_dataset_loaders() -> fine-plugin" in proc.stderr
    assert "plugin trace: automux_dataset_loaders() -> broken-plugin" in proc.stderr
    assert "plugin 'broken-plugin' failed in automux_dataset_loaders: RuntimeError: boom" in proc.stderr
