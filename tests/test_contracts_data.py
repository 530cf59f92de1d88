"""The two-core determinism check and the hostile-frame check: each fails its broken fake, passes the good one
and every first-party main-env adapter that it applies to."""
from __future__ import annotations

import pytest

from automux.contracts.checks_data import check_deterministic_at_two_cores, check_hostile_frame
from automux.contracts.context import ContractConfig, ContractContext
from automux.contracts.results import CheckFailed, CheckSkipped
from automux.testing.data_fakes import CoreCountNondeterministicFake, GoodDataFake, UsersNamesFake

CHECKS = {"check_deterministic_at_two_cores": check_deterministic_at_two_cores,
          "check_hostile_frame": check_hostile_frame}


@pytest.mark.parametrize("fake", [GoodDataFake, UsersNamesFake, CoreCountNondeterministicFake],
                         ids=lambda f: f.name)
def test_each_fake_fails_exactly_what_it_breaks(fake):
    adapter = fake()
    ctx = ContractContext(adapter, ContractConfig())
    try:
        for name, check in CHECKS.items():
            if name in fake.BREAKS:
                with pytest.raises(CheckFailed):
                    check(adapter, ctx)
            else:
                check(adapter, ctx)
    finally:
        ctx.close()


@pytest.mark.parametrize("backend", ["reference", "optuna", "flaml", "tpot"])
def test_main_env_adapters_pass_the_hostile_frame_and_their_core_claims(backend):
    from automux.core.registry import adapters

    adapter = adapters().get(backend)
    if adapter is None or adapter.unavailable_reason():
        pytest.skip(f"{backend} cannot run here")
    ctx = ContractContext(adapter, ContractConfig())
    try:
        check_hostile_frame(adapter, ctx)
        try:
            check_deterministic_at_two_cores(adapter, ctx)
        except CheckSkipped:
            pass
    finally:
        ctx.close()
