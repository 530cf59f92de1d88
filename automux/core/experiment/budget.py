"""The budget: a trial count and/or wall seconds, and the grace the parent allows."""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from typing import Any, Dict, Optional

from ..errors import SpecError

#: Seconds the parent waits past the budget cap before it terminates the worker:
#: it covers the final fit, save and predict (start-up has its own cap, below).
DEFAULT_GRACE_S = 15.0
#: Seconds a worker may take from launch to ready (``--startup-timeout``): interpreter start, backend
#: imports, reading the job data, the adapter's ``start_up`` (a JVM, a Dask cluster). Not search time.
DEFAULT_STARTUP_TIMEOUT_S = 120.0
#: The wall cap every run has, count budgets included (``--timeout``): one hour unless the user says otherwise.
DEFAULT_TIMEOUT_S = 3600.0
#: Cores a run gets unless the user says otherwise: one, so that runs repeat bit for bit by default
#: (several backends are not deterministic across thread counts); ``--cores N`` / ``--cores all`` for speed.
DEFAULT_CORES = 1
#: The floor of the per-candidate time limit adapters pass to their backends.
MIN_CANDIDATE_S = 10.0


@dataclass(frozen=True)
class Budget:
    """How much search an adapter may do.

    Invariants: at least one of ``trials`` / ``seconds`` is set and each set one is
    positive and finite. With ``trials`` a deterministic run is possible; with
    ``seconds`` alone it usually is not, and the record says so. Every run has a
    hard stop: ``timeout_s`` caps the wall time under any budget (a count
    budget included), enforced by the parent like the seconds deadline; a run
    that reaches it keeps its candidates with status ``timeout``.
    ``candidate_limit_s`` is the per-candidate limit adapters hand their backend
    where it has one (an even share of the cap, at least ``MIN_CANDIDATE_S``).
    ``cores`` is part of the experiment (as in AMLB's ``1h8c``): the worker's
    thread variables and each backend's own knob (``n_jobs``, ``nthreads``,
    ``num_cpus``, Dask threads) get it, and determinism is declared per core count.
    ``memory_mb`` is part of the experiment too: each backend's own memory knob
    gets it and the parent ends the worker's process group when it holds more
    (status ``failed``, "memory limit of N GB exceeded", candidates kept).

    What a budget covers: search time only. The clock starts when the worker is
    ready (interpreter up, backend imported, its runtime started: the adapter's
    ``start_up``); getting ready is timed apart (``durations.startup``) and bounded
    by ``startup_timeout_s``. The parent's hard stop is: before ready, launch +
    ``startup_timeout_s``; after, clock start + ``cap_s`` + ``grace_s``.
    ``startup_timeout_s`` enters the spec's JSON (and so its id) only when it
    differs from the default, so specs written before it existed keep their ids.
    """

    trials: Optional[int] = None
    seconds: Optional[float] = None
    grace_s: float = DEFAULT_GRACE_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: Cores the backend may use (``--cores``): every backend's own knob and the thread variables get it.
    cores: int = DEFAULT_CORES
    #: Seconds from launch until the worker is ready and the budget clock starts (``--startup-timeout``).
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    #: Memory the worker's whole process group may use, in MiB (``--memory``), enforced by the parent; None in
    #: records made before memory was part of the spec (left out of their JSON, so their spec ids stay).
    memory_mb: Optional[int] = None

    def __post_init__(self) -> None:
        if self.trials is None and self.seconds is None:
            raise SpecError("no budget given: pass --budget-trials N and/or --budget-seconds S")
        if self.trials is not None and (isinstance(self.trials, bool) or not isinstance(self.trials, int)
                                        or self.trials <= 0):
            raise SpecError(f"budget of {self.trials!r} trials: the trial budget must be a positive integer")
        for flag, value in (("--budget-seconds", self.seconds), ("--grace", self.grace_s),
                            ("--timeout", self.timeout_s), ("--startup-timeout", self.startup_timeout_s)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpecError(f"{flag} {value!r}: give a finite number of seconds")
        if self.seconds is not None and not (self.seconds > 0):
            raise SpecError(f"budget of {self.seconds!r} seconds: the seconds budget must be positive")
        if self.grace_s < 0:
            raise SpecError(f"--grace {self.grace_s!r}: the grace must be zero or more seconds")
        if isinstance(self.cores, bool) or not isinstance(self.cores, int) or self.cores < 1:
            raise SpecError(f"--cores {self.cores!r}: give a whole number of cores >= 1 (or `all`)")
        if self.memory_mb is not None and (isinstance(self.memory_mb, bool) or not isinstance(self.memory_mb, int)
                                           or self.memory_mb < 1):
            raise SpecError(f"--memory {self.memory_mb!r} MiB: give a size such as 512M or 4G, or `all`")
        if not self.timeout_s > 0:
            raise SpecError(f"--timeout {self.timeout_s!r}: the wall cap must be a positive number of seconds")
        if not self.startup_timeout_s > 0:
            raise SpecError(f"--startup-timeout {self.startup_timeout_s!r}: the start-up cap must be a positive "
                            "number of seconds")

    @property
    def mode(self) -> str:
        """``trials`` when a count bounds the search (deterministic possible), else ``seconds``."""
        return "trials" if self.trials is not None else "seconds"

    @property
    def cap_s(self) -> float:
        """Wall seconds the search may take: the seconds budget, never more than ``timeout_s``."""
        return self.timeout_s if self.seconds is None else min(self.seconds, self.timeout_s)

    @property
    def deadline_s(self) -> float:
        """Hard wall limit the parent enforces once the clock started: the cap plus the grace (count budgets too)."""
        return self.cap_s + self.grace_s

    @property
    def candidate_limit_s(self) -> float:
        """Per-candidate limit for backends that take one: the cap shared over the trials, floored."""
        share = self.cap_s / self.trials if self.trials else self.cap_s
        return max(MIN_CANDIDATE_S, min(self.cap_s, share))

    def to_json(self) -> Dict[str, Any]:
        d = dict(asdict(self), candidate_limit_s=self.candidate_limit_s)
        if d["startup_timeout_s"] == DEFAULT_STARTUP_TIMEOUT_S:
            del d["startup_timeout_s"]  # the default is implied: older specs keep their ids
        if d["memory_mb"] is None:
            del d["memory_mb"]  # a record from before --memory: its spec id stays
        return d

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Budget":
        return cls(**{k: v for k, v in d.items() if k != "candidate_limit_s"})
