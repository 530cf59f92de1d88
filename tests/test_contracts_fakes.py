"""Every contract check can fail: each broken fake fails exactly the checks it breaks.

The fakes (``automux.testing.fakes``) are a tiny numpy nearest-centroid "backend";
``GoodFake`` keeps every claim, each broken fake overrides one seam. The full
suite runs on every fake through the real machinery (worker subprocesses).
"""
from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np
import pytest

from automux.contracts import ALL_CHECKS, CheckFailed, ContractConfig, ContractWarning, check_adapter
from automux.contracts import parametrize_with_checks, yield_checks
from automux.contracts.checks import _prediction_problems, check_capabilities_well_formed
from automux.contracts.context import ContractContext
from automux.contracts.runner import run_check
from automux.core.adapter import Adapter
from automux.testing import fakes
from automux.testing.data_fakes import CoreCountNondeterministicFake, GoodDataFake, UsersNamesFake
from automux.testing.heavy_fake import HeavyImportFake
from automux.testing.rebuild_fakes import BackendImportingRebuildFake, DriftingRebuildFake, InSampleOOFFake

from helpers import run_cli

#: Short seconds budget and a grace that still covers worker start-up on a busy machine.
FAST = ContractConfig(seconds=2.0, grace_s=10.0)
ALL_FAKES = (fakes.GoodFake, *fakes.BROKEN_FAKES, HeavyImportFake, GoodDataFake, UsersNamesFake,
             CoreCountNondeterministicFake, DriftingRebuildFake, BackendImportingRebuildFake, InSampleOOFFake)


def test_every_check_is_broken_by_some_fake():
    broken = {name for cls in ALL_FAKES for name in cls.BREAKS}
    assert broken == {c.__name__ for c in ALL_CHECKS}


@pytest.mark.parametrize("fake", ALL_FAKES, ids=lambda cls: cls.__name__)
def test_fake_fails_exactly_the_checks_it_breaks(fake):
    adapter = fake()
    applicable = {c.__name__ for c in yield_checks(adapter)}
    assert set(fake.BREAKS) <= applicable, "a fake must declare what makes its broken check apply"
    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = check_adapter(adapter, on_fail="warn", config=FAST)
    by_status = {}
    for r in results:
        by_status.setdefault(r.status, set()).add(r.check)
    failed = by_status.get("failed", set())
    messages = {r.check: r.message for r in results if r.status == "failed"}
    assert failed == set(fake.BREAKS), messages
    assert {r.check for r in results} == applicable
    # the one skip allowed: a fake that gives no out-of-fold predictions (no SearchResult.oof, no candidate_source)
    skipped = {r.check: r.message for r in results if r.status == "skipped"}
    assert set(skipped) <= {"check_oof_never_saw_the_fold"}, skipped
    if skipped:
        assert type(adapter).candidate_source is Adapter.candidate_source
        assert "gives no out-of-fold predictions" in skipped["check_oof_never_saw_the_fold"]
    contract_warnings = [w for w in caught if issubclass(w.category, ContractWarning)]
    assert len(contract_warnings) == len(fake.BREAKS)
    print(f"{fake.__name__}: {len(results)} checks in {time.monotonic() - t0:.1f}s")


def test_leftover_process_is_ended_by_the_suite():
    ctx = ContractContext(fakes.LeavesProcessFake(), FAST)
    try:
        run = ctx.base_run()
        assert run.leftovers, "the fake's setsid child must be seen"
        assert not run.not_ended
        for p in run.leftovers:
            assert not os.path.exists(f"/proc/{p.pid}") or _zombie(p.pid)
    finally:
        ctx.close()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_on_fail_raise_stops_at_the_first_failure():
    with pytest.raises(CheckFailed, match="check_capabilities_well_formed"):
        check_adapter(fakes.BadCapabilitiesFake(), config=FAST)


def test_expected_failure_becomes_xfail():
    ctx = ContractContext(fakes.BadCapabilitiesFake(), FAST)
    try:
        result = run_check(check_capabilities_well_formed, ctx.adapter, ctx,
                           {"check_capabilities_well_formed": "known: produces is experimental"})
    finally:
        ctx.close()
    assert result.status == "xfail"
    assert result.message.startswith("known: produces is experimental")
    assert result.to_json()["check"] == "check_capabilities_well_formed"


def test_parametrize_with_checks_marks_expected_failures_xfail():
    mark = parametrize_with_checks([fakes.GoodFake()],
                                   expected_failed_checks={"check_seed_reaches_backend": "no seed knob"})
    argnames, params = mark.args
    assert argnames == "adapter, check"
    ids = [p.id for p in params]
    assert ids == [f"good_fake-{c.__name__}" for c in yield_checks(fakes.GoodFake())]
    xfails = {p.id: [m for m in p.marks if m.name == "xfail"] for p in params}
    assert [i for i, m in xfails.items() if m] == ["good_fake-check_seed_reaches_backend"]
    assert xfails["good_fake-check_seed_reaches_backend"][0].kwargs["reason"] == "no seed knob"


def test_prediction_checks_on_arrays():
    y = np.array([0, 0, 0, 1])
    freq = np.array([0.75, 0.25])
    good = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6]])
    assert _prediction_problems(good, y, "binary", 2, freq) == []
    assert _prediction_problems(good[:, ::-1], y, "binary", 2, freq)  # class order
    assert _prediction_problems(good * 1.1, y, "binary", 2, freq)  # outside [0, 1] / sums
    assert _prediction_problems(good[:3], y, "binary", 2, freq)  # shape
    nan = good.copy()
    nan[0, 0] = np.nan
    assert _prediction_problems(nan, y, "binary", 2, freq)
    assert _prediction_problems(np.array([1.0, 2.0, 3.0, 4.0]), y, "regression", 0, freq) == []
    assert _prediction_problems(np.array([1.0, np.inf, 3.0, 4.0]), y, "regression", 0, freq)
    assert _prediction_problems(np.ones((4, 1)), y, "regression", 0, freq)


def test_cli_lists_checks_and_rejects_unknown_backends():
    proc = run_cli("contracts", "automux.testing.fakes:GoodFake", "--list", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [c.__name__ for c in yield_checks(fakes.GoodFake())]
    proc = run_cli("contracts", "no_such_backend_xyz")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    proc = run_cli("contracts", "reference", "--xfail", "check_nonexistent=because")
    assert proc.returncode == 2 and "check_nonexistent" in proc.stderr


def test_cli_reports_a_broken_fake_and_exits_1():
    fake = "automux.testing.fakes:BadCapabilitiesFake"
    only = ["--check", "check_capabilities_well_formed", "--check", "check_environment_well_formed"]
    proc = run_cli("contracts", fake, "--json", *only,
                   "--xfail", "check_environment_well_formed=not broken, so it passes")
    assert proc.returncode == 1, proc.stderr
    rows = json.loads(proc.stdout)
    status = {r["check"]: r["status"] for r in rows}
    assert status == {"check_capabilities_well_formed": "failed", "check_environment_well_formed": "passed"}
    assert "expected to fail" in rows[1]["message"]
    assert {r["status"] for r in rows} <= {"passed", "failed", "skipped", "xfail"}
    assert all(set(r) >= {"check", "status", "message"} for r in rows)
    proc = run_cli("contracts", fake, "--json", *only, "--xfail", "check_capabilities_well_formed=known")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["status"] == "xfail"


def test_an_unscored_candidate_must_be_marked_failed():
    """check_given_folds_used fails a candidate scored [None, None, None] that is not marked failed (issue 26),
    and passes the same candidate reported with ``error=``."""
    from automux.contracts.checks import check_given_folds_used

    for fake, want in ((fakes.UnscoredCandidateFake, "failed"), (fakes.ReportsFailedCandidateFake, "passed")):
        ctx = ContractContext(fake(), FAST)
        try:
            result = run_check(check_given_folds_used, ctx.adapter, ctx, {})
            unscored = ctx.base_run().record.candidates[1]
        finally:
            ctx.close()
        assert unscored.fold_scores == [None, None, None]
        assert result.status == want, result.message
        if want == "failed":
            assert "not marked failed" in result.message and "error=" in result.message


def test_the_oof_check_applies_to_an_adapter_that_gives_oof_without_a_candidate_source(fakes_on_path):
    """A plugin that returns SearchResult.oof and has no candidate_source gets the out-of-fold check (issue 26)."""
    from automux.contracts.checks_oof import check_oof_never_saw_the_fold
    from fake_oof_adapters import FakeHonestOOFAdapter

    assert type(FakeHonestOOFAdapter()).candidate_source is Adapter.candidate_source
    assert check_oof_never_saw_the_fold in list(yield_checks(FakeHonestOOFAdapter()))
    assert check_oof_never_saw_the_fold in list(yield_checks(fakes.GoodFake()))  # skipped there, with its reason
