"""CI runs the contract suite on every first-party adapter that can run here.

Each check of each adapter is its own test (``<adapter>-<check>``). Adapters not
registered yet, or that cannot run here, are left out (see ``automux backends``);
they are picked up as soon as they land. Reference and Optuna run by default;
the heavier backends are marked ``slow``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Dict, List

from automux.contracts import parametrize_with_checks
from automux.core import registry
from automux.core.adapter import Adapter

import pytest

FAST_ADAPTERS = ("reference", "optuna")
SLOW_ADAPTERS = ("flaml", "tpot", "h2o", "pycaret", "autosklearn", "autogluon")

#: Known, reported contract failures of first-party adapters: {adapter: {check: reason}}.
#: Empty now; add an entry (it becomes an xfail) rather than deleting a failing check.
EXPECTED_FAILURES: Dict[str, Dict[str, str]] = {}


def runnable(names: "tuple[str, ...]") -> List[Adapter]:
    """The named adapters that are registered and can run here, in the given order."""
    found = registry.adapters()
    return [found[n] for n in names if n in found and found[n].unavailable_reason() is None]


def expected(adapter: Adapter) -> Dict[str, str]:
    return EXPECTED_FAILURES.get(adapter.name, {})


@parametrize_with_checks(runnable(FAST_ADAPTERS), expected_failed_checks=expected)
def test_first_party_contract(adapter, check):
    check(adapter)


@pytest.mark.slow
@parametrize_with_checks(runnable(SLOW_ADAPTERS), expected_failed_checks=expected)
def test_first_party_contract_slow(adapter, check):
    check(adapter)


def test_reference_is_always_checked():
    assert [a.name for a in runnable(("reference",))] == ["reference"]


def test_contracts_command_module_is_import_light():
    code = ("import sys, automux.cli.contracts, automux.contracts; "
            "heavy = [m for m in ('automux.contracts.checks', 'automux.contracts.runner', "
            "'automux.contracts.context', 'pytest', 'sklearn') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_contracts_json_lists_checks_for_reference():
    from helpers import run_cli

    proc = run_cli("contracts", "reference", "--list", "--json")
    assert proc.returncode == 0, proc.stderr
    names = json.loads(proc.stdout)
    assert names[0] == "check_capabilities_well_formed" and names[-1] == "check_no_process_left_behind"
    # reference declares every task, categoricals and missing values: the "supported" variants apply
    assert "check_unsupported_tasks_refused" not in names
    assert {"check_categorical_supported", "check_missing_values_supported"} <= set(names)
