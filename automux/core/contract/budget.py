"""The budget: a trial count and/or wall seconds, and the grace the parent allows."""
from __future__ import annotations

from dataclasses import dataclass, asdict
from typing import Any, Dict, Optional

from ..errors import SpecError

#: Seconds the parent waits past ``seconds`` before it terminates the worker:
#: it covers interpreter start-up, backend imports, the final fit and predict.
DEFAULT_GRACE_S = 15.0


@dataclass(frozen=True)
class Budget:
    """How much search an adapter may do.

    Invariants: at least one of ``trials`` / ``seconds`` is set and each set one is
    positive. With ``trials`` a deterministic run is possible; with ``seconds``
    alone it usually is not, and the record says so.
    """

    trials: Optional[int] = None
    seconds: Optional[float] = None
    grace_s: float = DEFAULT_GRACE_S

    def __post_init__(self) -> None:
        if self.trials is None and self.seconds is None:
            raise SpecError("no budget given: pass --budget-trials N and/or --budget-seconds S")
        if self.trials is not None and (not isinstance(self.trials, int) or self.trials <= 0):
            raise SpecError(f"budget of {self.trials!r} trials: the trial budget must be a positive integer")
        if self.seconds is not None and not (self.seconds > 0):
            raise SpecError(f"budget of {self.seconds!r} seconds: the seconds budget must be positive")
        if self.grace_s < 0:
            raise SpecError("the grace must be zero or more seconds")

    @property
    def mode(self) -> str:
        """``trials`` when a count bounds the search (deterministic possible), else ``seconds``."""
        return "trials" if self.trials is not None else "seconds"

    @property
    def deadline_s(self) -> Optional[float]:
        """Hard wall limit the parent enforces, or None under a count budget alone."""
        return None if self.seconds is None else self.seconds + self.grace_s

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Budget":
        return cls(**d)
