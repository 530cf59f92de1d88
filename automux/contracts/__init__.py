"""The conformance suite: every adapter proves what it declares by running.

``check_adapter(adapter_or_name)`` runs it without pytest; ``parametrize_with_checks``
makes each check its own pytest test; ``automux contracts NAME`` runs it from the
command line. The checks themselves are plain functions in ``automux.contracts.checks``.

Importing this package is light (the CLI imports it to register a subcommand):
everything below is imported on first attribute access.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "check_adapter", "parametrize_with_checks", "yield_checks", "ContractConfig", "CheckResult",
    "CheckFailed", "CheckSkipped", "ContractWarning", "ALL_CHECKS",
]

_WHERE = {
    "check_adapter": "runner",
    "parametrize_with_checks": "pytest_support",
    "yield_checks": "checks",
    "ALL_CHECKS": "checks",
    "ContractConfig": "context",
    "CheckResult": "results",
    "CheckFailed": "results",
    "CheckSkipped": "results",
    "ContractWarning": "results",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
