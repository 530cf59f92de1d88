"""What a contract check reports: its outcome, and the exceptions checks raise."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

from ..core.errors import AutomuxError

STATUSES = ("passed", "failed", "skipped", "xfail")


class CheckFailed(AutomuxError, AssertionError):
    """An adapter does not do what it declares; the message says what was seen."""


class CheckSkipped(AutomuxError):
    """A check cannot say anything about this adapter here; the message says why."""


class ContractWarning(UserWarning):
    """Issued per failed check by ``check_adapter(..., on_fail="warn")``."""


@dataclass(frozen=True)
class CheckResult:
    """One check on one adapter.

    ``status`` is ``passed``, ``failed``, ``skipped`` or ``xfail`` (failed, but
    listed in ``expected_failed_checks``; ``message`` then starts with the reason).
    """

    check: str
    status: str
    message: str = ""
    duration_s: float = 0.0

    def to_json(self) -> Dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message,
                "duration_s": round(self.duration_s, 3)}
