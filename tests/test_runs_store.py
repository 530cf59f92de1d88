"""Finding, comparing, deleting and pruning stored runs from the command line (issue 25)."""
from __future__ import annotations

import json

import pytest

import automux
from automux.cli import main


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two reference runs of one spec (sharing its stored data) and one of another."""
    store = automux.RunStore(tmp_path_factory.mktemp("runs"))
    a = automux.run("sklearn:breast_cancer", None, "reference", budget_trials=3, seed=0, store=store)
    b = automux.run("sklearn:breast_cancer", None, "reference", budget_trials=3, seed=0, store=store)
    c = automux.run("sklearn:iris", None, "reference", budget_trials=2, seed=0, store=store)
    return store, a, b, c


def _cli(capsys, store, *argv):
    rc = main([*argv, "--store", str(store.root)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_record_holds_the_holdout_interval(two_runs):
    _, a, _, _ = two_runs
    ci = a.extra["holdout_ci"]
    assert ci["resamples"] == 200 and ci["low"] <= a.score <= ci["high"]


def test_runs_show_prints_the_candidates_best_first(two_runs, capsys):
    store, a, _, _ = two_runs
    rc, out, _ = _cli(capsys, store, "runs", "show", a.run_id, "--top", "2")
    assert rc == 0
    assert f"{a.score:.4f} [{a.extra['holdout_ci']['low']:.4f}" in out
    table = out.split("candidates (3, best first, * chosen):")[1].splitlines()
    chosen = [line for line in table if line.startswith("*")]
    assert len(chosen) == 1 and f" {a.chosen} " in chosen[0]
    assert "(1 more: --top 0 shows all)" in out


def test_list_filters_and_the_spec_leaderboard(two_runs, capsys):
    store, a, b, c = two_runs
    assert a.spec_id == b.spec_id != c.spec_id
    rc, out, _ = _cli(capsys, store, "runs", "list", "--spec", a.spec_id, "--json")
    assert rc == 0 and [r["run_id"] for r in json.loads(out)] == [a.run_id, b.run_id]
    fp = c.spec.data["fingerprint"][:10]
    assert [r["run_id"] for r in automux.runs(store, data=fp)] == [c.run_id]
    assert [r["run_id"] for r in automux.runs(store, data="sklearn:iris")] == [c.run_id]
    rc, out, _ = _cli(capsys, store, "runs", "leaderboard", a.spec_id, "--json")
    results = json.loads(out)["results"]
    assert rc == 0 and {r["run_id"] for r in results} == {a.run_id, b.run_id}
    assert all(r["holdout_ci"]["resamples"] == 200 and r["algorithm"] for r in results)
    rc, out, _ = _cli(capsys, store, "runs", "leaderboard", a.spec_id)
    assert "holdout roc_auc [95% CI]" in out and "cv gain vs baseline" in out and a.run_id in out


def test_delete_refuses_a_bad_id_and_keeps_shared_data(two_runs, capsys):
    store, a, b, c = two_runs
    rc, _, err = _cli(capsys, store, "runs", "delete", a.run_id, "20991231T000000-deadbeef")
    assert rc == 2 and "no run '20991231T000000-deadbeef'" in err and len(err.strip().splitlines()) == 1
    assert store.run_dir(a.run_id).is_dir()  # nothing deleted
    rc, out, _ = _cli(capsys, store, "runs", "prune", "--keep-last", "1", "--dry-run", "--json")
    would = json.loads(out)
    assert would["dry_run"] and would["deleted"] == [a.run_id, b.run_id] and would["bytes_freed"] > 0
    assert store.run_dir(a.run_id).is_dir()
    rc, out, _ = _cli(capsys, store, "runs", "delete", a.run_id, "--json")
    gone = json.loads(out)
    assert rc == 0 and gone["deleted"] == [a.run_id] and gone["bytes_freed"] > 0
    assert gone["data_removed"] == []  # b still uses the spec's stored data
    assert not store.run_dir(a.run_id).exists() and [r["run_id"] for r in store.list()] == [b.run_id, c.run_id]
    assert automux.load(b.run_id, store=store).leaderboard() is not None


def test_prune_needs_a_rule_and_selects_by_status(tmp_path, capsys):
    store = automux.RunStore(tmp_path / "runs")
    rc, _, err = _cli(capsys, store, "runs", "prune")
    assert rc == 2 and "prune needs a rule" in err
    r = automux.run("sklearn:iris", None, "reference", budget_trials=1, seed=0, store=store)
    rc, out, _ = _cli(capsys, store, "runs", "prune", "--status", "failed,timeout")
    assert rc == 0 and "deleted 0 run(s)" in out and store.run_dir(r.run_id).is_dir()
    out = automux.prune_runs(store=store, status=["ok"], older_than_days=0)
    assert out["deleted"] == [r.run_id] and out["bytes_freed"] > 0 and not store.run_dir(r.run_id).exists()
    assert out["data_removed"] == []  # written in the last 10 minutes: a run starting now may be about to use it


def test_select_honours_drop(capsys):
    rc, out, _ = _cli(capsys, automux.RunStore("unused"), "select", "--data", "sklearn:breast_cancer",
                      "--drop", "mean radius", "--json")
    assert rc in (0, 1) and json.loads(out)["profile"]["features"] == 29


def test_backend_auto_says_why_in_one_line(two_runs):
    """``run --backend auto``'s line: the choice, its top reasons, where the evidence came from."""
    import dataclasses

    from automux.cli.run import _selection_line
    from automux.select.selector import select

    _, _, _, c = two_runs
    sel = select("sklearn:iris").to_json()
    top = sel["ranking"][0]
    record = dataclasses.replace(c, backend=top["backend"], extra=dict(c.extra, selection=sel))
    line = _selection_line(record)
    assert line.startswith(f"auto: chose {top['backend']} (score {top['score']:+.2f}) because ")
    assert "\n" not in line and f"evidence: {sel['evidence']['source']}" in line
    strongest = max(top["reasons"], key=lambda w: abs(w["points"]))
    assert strongest["reason"][:40] in line
