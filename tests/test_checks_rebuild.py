"""The rebuild conformance check: it fails its broken fakes and passes every adapter that declares rebuilds."""
from __future__ import annotations

import pytest

from automux.contracts.checks_rebuild import check_rebuild_reproduces, declares_rebuild, rebuild_checks
from automux.contracts.context import ContractConfig, ContractContext
from automux.contracts.results import CheckFailed
from automux.core.registry import get_adapter
from automux.testing.rebuild_fakes import (BackendImportingRebuildFake, DriftingRebuildFake, RebuildingFake,
                                           RefusingRebuildFake)


def test_check_passes_the_fake_that_rebuilds_exactly():
    note = check_rebuild_reproduces(RebuildingFake())
    assert "reproduced their fold scores" in note


def test_check_fails_the_fake_whose_source_drifts_naming_the_difference():
    with pytest.raises(CheckFailed, match=r"does not reproduce its fold scores.*difference"):
        check_rebuild_reproduces(DriftingRebuildFake())


def test_check_fails_the_fake_whose_source_imports_automux():
    with pytest.raises(CheckFailed, match="automux may not be imported"):
        check_rebuild_reproduces(BackendImportingRebuildFake())


def test_check_applies_only_to_adapters_that_declare_rebuilds():
    assert list(rebuild_checks(RebuildingFake())) == [check_rebuild_reproduces]
    assert not declares_rebuild(RefusingRebuildFake()) and list(rebuild_checks(RefusingRebuildFake())) == []
    for name in ("reference", "optuna", "flaml", "tpot", "pycaret"):
        assert declares_rebuild(get_adapter(name)), name
    assert not declares_rebuild(get_adapter("autosklearn"))


@pytest.mark.parametrize("backend", ["reference", "flaml", "tpot"])
def test_check_passes_first_party_adapters_that_rebuild(backend):
    pytest.importorskip({"reference": "sklearn"}.get(backend, backend))
    adapter = get_adapter(backend)
    ctx = ContractContext(adapter, ContractConfig(trials=2))
    assert "reproduced their fold scores" in check_rebuild_reproduces(adapter, ctx)


def test_contract_suite_yields_the_rebuild_check_for_adapters_that_rebuild():
    from automux.contracts.checks import yield_checks

    assert check_rebuild_reproduces in list(yield_checks(RebuildingFake()))
    assert check_rebuild_reproduces not in list(yield_checks(RefusingRebuildFake()))
