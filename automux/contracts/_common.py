"""What every check module shares: the check type, the context a check runs in, and how it fails."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from ..core.adapter import Adapter
from .context import ContractContext, context_for
from .results import CheckFailed

#: A check: ``check(adapter, ctx=None)`` returns a short note, or raises ``CheckFailed`` / ``CheckSkipped``.
Check = Callable[..., Optional[str]]


def ctx_for(adapter: Adapter, ctx: Optional[ContractContext]) -> ContractContext:
    """``ctx``, or the adapter's shared context (its cached runs) when none is given."""
    return ctx if ctx is not None else context_for(adapter)


def fail_if(problems: Sequence[str], what: str) -> None:
    """Raise ``CheckFailed`` naming every problem, when there is one."""
    if problems:
        raise CheckFailed(f"{what}: " + "; ".join(problems))


def completed(run: Any, purpose: str) -> None:
    """Raise ``CheckFailed`` saying why, when ``run`` did not finish."""
    if not run.completed:
        raise CheckFailed(f"the {purpose} run did not finish: {run.describe_failure()}")
