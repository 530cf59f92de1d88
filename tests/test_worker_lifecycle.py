"""The worker's life cycle (issue 22): a seconds budget is search time (start-up timed apart and capped),
a worker that wrote its result is done, and the out-of-fold refit happens only when asked, outside the budget."""
from __future__ import annotations

import time

import pytest

import automux
from automux.core.experiment.prepare import make_budget, prepare
from automux.core.run import jobfiles as jf
from automux.core.run.execute import execute
from automux.core.run.launcher import EXIT_WAIT_S


def _exp(data: str = "sklearn:breast_cancer", **budget):
    return prepare(data, budget=make_budget(**budget), seed=5)


def test_start_up_is_outside_the_seconds_budget(store, fakes_on_path):
    from fake_lifecycle_adapters import FakeSlowStartAdapter

    rec = execute(_exp(seconds=5.0, grace_s=5.0), FakeSlowStartAdapter(), store=store,
                  options={"startup_sleep": 3.0, "sleep": 0.2})
    assert rec.status == "ok", rec.error
    assert rec.durations["startup"] >= 3.0
    assert rec.durations["search"] >= 4.5  # the whole budget went to the search, none to the start-up
    assert rec.extra["startup"]["facts"] == {"warm": False, "slept_s": 3.0}
    assert rec.extra["startup"]["hook_s"] >= 3.0
    run_dir = store.run_dir(rec.run_id)
    started = jf.read_json(run_dir / jf.STARTED)
    # the clock started after the hook returned, and the search began after that
    assert float((run_dir / "scratch" / "search_started").read_text()) >= started["clock_started_at"]
    assert (run_dir / "scratch" / "shut_down").exists()  # shut_down ran after search, save and predict


def test_a_start_up_over_its_cap_ends_timeout_saying_so(store, fakes_on_path):
    from fake_lifecycle_adapters import FakeSlowStartAdapter

    t0 = time.monotonic()
    rec = execute(_exp(seconds=5.0, grace_s=5.0, startup_timeout_s=4.0), FakeSlowStartAdapter(), store=store,
                  options={"startup_sleep": 60.0})
    wall = time.monotonic() - t0
    assert rec.status == "timeout"
    assert "start-up exceeded its cap of 4s" in rec.error and "--startup-timeout" in rec.error
    assert rec.durations["startup"] is None and rec.candidates == []
    assert wall < 4.0 + 3.0 + 5.0  # the cap + the kill wait + slack: not the budget, not the grace


def test_the_start_up_cap_is_in_the_spec_only_when_set():
    default, capped = make_budget(trials=1), make_budget(trials=1, startup_timeout_s=30)
    assert "startup_timeout_s" not in default.to_json()  # specs written before the cap keep their ids
    assert capped.to_json()["startup_timeout_s"] == 30
    assert type(default).from_json(capped.to_json()) == capped
    with pytest.raises(automux.core.errors.SpecError, match="--startup-timeout"):
        make_budget(trials=1, startup_timeout_s=0)


@pytest.mark.parametrize("linger", ["thread", "queue"])
def test_a_worker_that_wrote_its_result_but_hangs_is_ok_within_seconds(store, fakes_on_path, linger):
    from fake_lifecycle_adapters import FakeLingeringAdapter

    t0 = time.monotonic()
    rec = execute(_exp(trials=2, timeout_s=300), FakeLingeringAdapter(), store=store, options={"linger": linger})
    wall = time.monotonic() - t0
    assert rec.status == "ok", rec.error
    assert rec.score is not None and len(rec.candidates) == 2
    assert f"did not exit within {EXIT_WAIT_S:g} s; its process group was ended" in rec.log
    assert wall < 60  # seconds after the result, not the 300 s cap


def test_a_worker_that_reported_no_candidate_in_time_but_hangs_ends_timeout_within_seconds(store, fakes_on_path):
    """error.json is final too: a worker held alive by a thread it cannot stop (TPOT's Dask thread inside a
    compiled solver) is ended seconds after its report, keeping the adapter's reason, not at the hard stop."""
    from fake_lifecycle_adapters import FakeLingeringAdapter

    t0 = time.monotonic()
    rec = execute(_exp(trials=2, timeout_s=300), FakeLingeringAdapter(), store=store, options={"linger": "error"})
    assert rec.status == "timeout" and "no candidate finished within the seconds budget (fake)" in rec.error
    assert f"did not exit within {EXIT_WAIT_S:g} s; its process group was ended" in rec.log
    assert time.monotonic() - t0 < 60


def test_a_plain_run_does_no_oof_refit(store, fakes_on_path):
    from fake_oof_adapters import FakeSourceAdapter

    rec = execute(_exp("sklearn:iris", trials=2), FakeSourceAdapter(), store=store)
    assert rec.status == "ok"
    info = rec.extra["oof"]
    assert info["available"] is False and "did not ask for a refit" in info["reason"]
    assert rec.durations["oof_refit"] is None
    assert not (store.run_dir(rec.run_id) / jf.OOF_REFIT).exists()


def test_an_asked_oof_refit_is_recorded_outside_the_budget(store, fakes_on_path):
    from fake_oof_adapters import FakeSourceAdapter

    rec = execute(_exp("sklearn:iris", trials=2), FakeSourceAdapter(), store=store, oof=True)
    assert rec.status == "ok"
    assert rec.extra["oof"]["source"] == "refit" and rec.extra["oof"]["available"]
    assert rec.durations["oof_refit"] is not None and rec.durations["oof_refit"] >= 0
    assert (store.run_dir(rec.run_id) / jf.OOF_REFIT).exists()


def test_an_adapters_own_oof_is_written_without_asking(store, fakes_on_path):
    from fake_oof_adapters import FakeHonestOOFAdapter

    rec = execute(_exp("sklearn:iris", trials=2), FakeHonestOOFAdapter(), store=store)
    assert rec.extra["oof"]["source"] == "adapter" and rec.durations["oof_refit"] is None
    assert jf.OOF in rec.artifacts


def test_an_ensemble_of_runs_without_oof_says_why(store, fakes_on_path):
    from fake_oof_adapters import FakeSourceAdapter

    from automux.governance.ensemble import EnsembleError

    exp = _exp("sklearn:iris", trials=2)
    runs = [execute(exp, FakeSourceAdapter(), store=store).run_id for _ in range(2)]
    with pytest.raises(EnsembleError, match="did not ask for a refit .*compare --ensemble"):
        automux.ensemble(runs, store=store)


def test_bench_cells_ask_for_oof_only_in_a_suite_with_an_ensemble_row(tmp_path):
    import json

    from automux.bench.cellrun import suite_has_ensemble

    assert suite_has_ensemble(tmp_path) is False  # no suite.json yet
    (tmp_path / "suite.json").write_text(json.dumps({"name": "s", "ensemble": None}))
    assert suite_has_ensemble(tmp_path) is False
    (tmp_path / "suite.json").write_text(json.dumps({"name": "s", "ensemble": 25}))
    assert suite_has_ensemble(tmp_path) is True


def test_a_bench_rows_budget_overrun_leaves_out_the_start_up():
    from automux.bench.results import AUTOMUX_COLUMNS, overrun

    assert "startup" in AUTOMUX_COLUMNS
    assert overrun(40.0, 30.0, 8.0) == pytest.approx(2.0)  # 8 s of start-up are not an overrun
    assert overrun(40.0, 30.0) == pytest.approx(10.0)  # records from before issue 22: no start-up known
    assert overrun(40.0, None, 8.0) is None
