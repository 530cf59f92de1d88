"""``parametrize_with_checks``: every contract check of every adapter as its own pytest test.

Usage (in a test module)::

    from automux.contracts import parametrize_with_checks

    @parametrize_with_checks(["reference", MyAdapter()],
                             expected_failed_checks={"check_seed_reaches_backend": "no seed knob"})
    def test_contract(adapter, check):
        check(adapter)

Test ids read ``<adapter>-<check>``. Checks of one adapter share its runs (made
once per test session). An adapter that cannot run here is skipped with its reason.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

from ..core.adapter import Adapter
from .checks import Check, yield_checks
from .context import ContractConfig, context_for
from .results import CheckSkipped
from .runner import AdapterLike, ExpectedFailures, expected_for, resolve_adapter

ConfigLike = Union[ContractConfig, Callable[[Adapter], Optional[ContractConfig]], None]


class BoundCheck:
    """A check as pytest calls it: ``check(adapter)``; runs in the adapter's shared context."""

    def __init__(self, check: Check, config: Optional[ContractConfig]) -> None:
        self.check = check
        self.config = config
        self.__name__ = check.__name__
        self.__doc__ = check.__doc__

    def __call__(self, adapter: Adapter) -> Optional[str]:
        import pytest

        reason = adapter.unavailable_reason()
        if reason:
            pytest.skip(f"{adapter.name} cannot run here: {reason}")
        try:
            return self.check(adapter, context_for(adapter, self.config))
        except CheckSkipped as e:
            pytest.skip(str(e))
        return None

    def __repr__(self) -> str:
        return self.__name__


def _config_for(adapter: Adapter, config: ConfigLike) -> Optional[ContractConfig]:
    return config(adapter) if callable(config) else config


def parametrize_with_checks(adapters: Sequence[AdapterLike], *, expected_failed_checks: ExpectedFailures = None,
                            config: ConfigLike = None) -> Any:
    """A ``pytest.mark.parametrize("adapter, check", ...)`` over every applicable check.

    Args:
        adapters: instances, subclasses, backend names or ``module:Class`` strings.
        expected_failed_checks: ``{check_name: reason}`` or a callable taking the
            adapter and returning one; those checks are marked ``xfail``.
        config: a ``ContractConfig``, or a callable giving one per adapter.
    """
    import pytest

    params = []
    for item in adapters:
        adapter = resolve_adapter(item)
        expected = expected_for(adapter, expected_failed_checks)
        cfg = _config_for(adapter, config)
        for check in yield_checks(adapter):
            name = check.__name__
            marks = [pytest.mark.xfail(reason=expected[name], strict=False)] if name in expected else []
            params.append(pytest.param(adapter, BoundCheck(check, cfg), id=f"{adapter.name}-{name}", marks=marks))
    return pytest.mark.parametrize("adapter, check", params)
