"""The AutoGluon adapter against the real backend, in its own locked env (small data, small budgets)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from automux.core.errors import SpecError

from helpers import run_cli


def _adapter():
    from automux.core.registry import get_adapter
    return get_adapter("autogluon")


def test_options_are_checked_in_the_parent():
    a = _adapter()
    a.check_options({"presets": "medium_quality", "num_cpus": 2, "refit_full": False, "models": ["lightgbm"]})
    for bad in ({"preset": "medium_quality"}, {"presets": "fastest"}, {"num_cpus": 0}, {"num_cpus": True},
                {"models": ["lightgbm", "svm"]}, {"refit_full": "yes"}):
        with pytest.raises(SpecError):
            a.check_options(bad)


def test_declarations_match_the_documented_design():
    from automux.adapters import autogluon_adapter as ag
    from automux.core.capabilities import STRENGTHS

    a = _adapter()
    assert a.environment.name == "autogluon" and a.environment.python == "==3.11.*"
    assert "autogluon.tabular[lightgbm,xgboost,catboost]==1.6.3" in a.environment.requirements
    assert a.capabilities.deterministic == {"trials": True, "seconds": False}
    assert a.capabilities.custom_folds is True and set(a.capabilities.strengths) <= set(STRENGTHS)
    assert len({c[0] for c in ag.MODEL_CONFIGS}) == len(ag.MODEL_CONFIGS) >= 5


def test_a_fit_that_returns_early_says_why_and_a_full_one_says_nothing():
    """``search_info.search_ended`` (why search < budget) only when AutoGluon stopped over 1 s (or 3 %) before its
    time_limit."""
    from automux.adapters.autogluon_adapter import _ended

    args = {"time_limit": 26.0, "presets": "medium_quality"}
    early = _ended(args, 9.5)["search_ended"]
    assert "9.5s of its 26.0s time_limit" in early and "nothing left to try" in early
    assert "nothing left to try" in _ended(args, 24.5)["search_ended"]  # 1.5 s unused: said too
    assert _ended(args, 25.0) == {} and _ended(args, 31.0) == {}
    assert _ended({"presets": None}, 3.0) == {}  # a count budget has no time_limit


@pytest.fixture(scope="module")
def ag_env():
    proc = run_cli("env", "build", "autogluon", "--json", timeout=1800)
    if proc.returncode == 2 and "needs Python" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_env_builds_from_the_committed_lock(ag_env):
    assert ag_env["lock_source"] == "packaged" and ag_env["fingerprint"] == ag_env["lock_sha256"][:16]
    assert ag_env["python_version"].startswith("3.11.")


@pytest.mark.slow
def test_trials_run_bags_on_the_given_folds_and_is_repeatable(ag_env, tmp_path):
    import automux

    kw = dict(budget_trials=2, folds=3, seed=3, store=tmp_path, options={"num_cpus": 1})
    a = automux.run("sklearn:breast_cancer", "target", "autogluon", **kw)
    assert a.status == "ok", a.error
    assert [c.algorithm for c in a.candidates] == ["lightgbm", "random_forest"]
    assert all(len(c.fold_scores) == 3 and all(s is not None for s in c.fold_scores) for c in a.candidates)
    assert a.env["automux_env"]["isolated"] is True and a.env["automux_env"]["fingerprint"] == ag_env["fingerprint"]
    assert a.env["packages"]["pandas"].startswith("2.") and a.score > 0.95
    b = automux.run("sklearn:breast_cancer", "target", "autogluon", **kw)
    assert b.predictions_sha256 == a.predictions_sha256 and b.chosen == a.chosen


@pytest.mark.slow
def test_compare_with_reference_from_the_cli(ag_env, tmp_path):
    """A compare mixing a main-env backend with the isolated one, from the CLI. 2 trials (was 5): the claim is
    that both run and are listed, which no trial count changes; 2 is what the library test above runs."""
    proc = run_cli("--store", str(tmp_path), "compare", "--data", "sklearn:breast_cancer", "--backends",
                   "reference,autogluon", "--budget-trials", "2", "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "autogluon" in proc.stdout and "reference" in proc.stdout
