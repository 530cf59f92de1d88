"""Run the contract suite on one adapter without pytest: ``check_adapter``.

Like scikit-learn's ``check_estimator``: the checks that apply are chosen from the
adapter's declarations, each runs in turn, and the outcome is a list of
``CheckResult``. ``expected_failed_checks={check_name: reason}`` turns a failure
into ``xfail``.
"""
from __future__ import annotations

import importlib
import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ..core.adapter import Adapter
from ..core.errors import BackendNotFound, BackendUnavailable
from .checks import ALL_CHECKS, Check, yield_checks
from .context import ContractConfig, ContractContext
from .results import CheckFailed, CheckResult, CheckSkipped, ContractWarning

AdapterLike = Union[Adapter, type, str]
ExpectedFailures = Union[Mapping[str, str], Callable[[Adapter], Mapping[str, str]], None]
ON_FAIL = ("raise", "warn", None)


def resolve_adapter(adapter: AdapterLike) -> Adapter:
    """An ``Adapter`` from an instance, a subclass, a backend name or ``module:Class``.

    Raises:
        BackendNotFound: no adapter under that name, or ``module:Class`` cannot be imported.
    """
    if isinstance(adapter, Adapter):
        return adapter
    if isinstance(adapter, type) and issubclass(adapter, Adapter):
        return adapter()
    if isinstance(adapter, str) and ":" in adapter:
        module_name, _, cls_name = adapter.partition(":")
        if not module_name.strip() or not cls_name.strip():
            raise BackendNotFound(f"{adapter!r}: write a backend name or module:Class, e.g. my_pkg.adapter:MyAdapter")
        try:
            cls = getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError, ValueError, TypeError) as e:
            raise BackendNotFound(f"cannot import adapter {adapter!r}: {type(e).__name__}: {e}") from e
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise BackendNotFound(f"{adapter!r} is not an automux.Adapter subclass")
        return cls()
    if isinstance(adapter, str):
        from ..core.registry import get_adapter
        return get_adapter(adapter)
    raise TypeError(f"expected an Adapter, an Adapter subclass, a backend name or 'module:Class', got {adapter!r}")


def expected_for(adapter: Adapter, expected_failed_checks: ExpectedFailures) -> Dict[str, str]:
    if expected_failed_checks is None:
        return {}
    if callable(expected_failed_checks):
        return dict(expected_failed_checks(adapter) or {})
    return dict(expected_failed_checks)


def run_check(check: Check, adapter: Adapter, ctx: ContractContext,
              expected: Optional[Mapping[str, str]] = None) -> CheckResult:
    """Run one check; every exception becomes a result, never escapes."""
    name = check.__name__
    t0 = time.monotonic()
    try:
        note = check(adapter, ctx) or ""
        status, message = "passed", note
    except CheckSkipped as e:
        status, message = "skipped", str(e)
    except CheckFailed as e:
        status, message = "failed", str(e)
    except Exception as e:  # noqa: BLE001 - a check that crashes on an adapter is a failure of that check
        status, message = "failed", f"{type(e).__name__}: {e}"
    if status == "failed" and expected and name in expected:
        status, message = "xfail", f"{expected[name]} ({message})"
    elif status == "passed" and expected and name in expected:
        message = f"expected to fail ({expected[name]}) but passed" + (f": {message}" if message else "")
    return CheckResult(check=name, status=status, message=message, duration_s=time.monotonic() - t0)


def check_adapter(adapter: AdapterLike, *, on_fail: Optional[str] = "raise",
                  expected_failed_checks: ExpectedFailures = None, config: Optional[ContractConfig] = None,
                  progress: Optional[Callable[[CheckResult], Any]] = None,
                  checks: Optional[Sequence[str]] = None) -> List[CheckResult]:
    """Run every applicable contract check on ``adapter``; returns one result per check.

    Args:
        adapter: an ``Adapter`` instance or subclass, a backend name, or ``module:Class``.
        on_fail: ``"raise"`` raises ``CheckFailed`` at the first failed check,
            ``"warn"`` issues a ``ContractWarning`` per failed check, ``None`` only reports.
        expected_failed_checks: ``{check_name: reason}`` (or a callable taking the
            adapter and returning one): those failures are reported as ``xfail``.
        config: budgets and seeds of the runs (``ContractConfig``).
        progress: called with each result as soon as it is known.
        checks: run only the applicable checks with these names (default: all).

    Raises:
        BackendNotFound, BackendUnavailable: the adapter cannot be found or cannot run here.
        ValueError: a name in ``checks`` is not a contract check.
        CheckFailed: with ``on_fail="raise"``, the first failure.
    """
    if on_fail not in ON_FAIL:
        raise ValueError(f"on_fail={on_fail!r}: use 'raise', 'warn' or None")
    the_adapter = resolve_adapter(adapter)
    reason = the_adapter.unavailable_reason()
    if reason:
        raise BackendUnavailable(f"backend {the_adapter.name!r} cannot run here: {reason}")
    expected = expected_for(the_adapter, expected_failed_checks)
    chosen = list(yield_checks(the_adapter))
    if checks is not None:
        unknown = sorted(set(checks) - {c.__name__ for c in ALL_CHECKS})
        if unknown:
            raise ValueError(f"no contract check named {unknown[0]!r}")
        chosen = [c for c in chosen if c.__name__ in set(checks)]
    ctx = ContractContext(the_adapter, config)
    results: List[CheckResult] = []
    try:
        for check in chosen:
            result = run_check(check, the_adapter, ctx, expected)
            results.append(result)
            if progress is not None:
                progress(result)
            if result.status == "failed":
                if on_fail == "raise":
                    raise CheckFailed(f"{the_adapter.name}: {result.check} failed: {result.message}")
                if on_fail == "warn":
                    warnings.warn(f"{the_adapter.name}: {result.check} failed: {result.message}", ContractWarning,
                                  stacklevel=2)
    finally:
        ctx.close()
    return results
