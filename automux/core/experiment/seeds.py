"""One master seed; every other seed is derived from it by name and recorded."""
from __future__ import annotations

import hashlib
from typing import Dict, Iterable

#: The purposes automux derives seeds for; adapters get ``backend``.
SEED_PURPOSES = ("split", "backend", "numpy", "python")


def derive_seed(master: int, purpose: str) -> int:
    """Return a 31-bit seed for ``purpose`` derived from ``master``.

    Stable across machines, interpreters and numpy versions (sha256, not hash()).
    """
    digest = hashlib.sha256(f"automux:{int(master)}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def derive_all(master: int, purposes: Iterable[str] = SEED_PURPOSES) -> Dict[str, int]:
    """Every derived seed by purpose, as recorded in the spec."""
    return {p: derive_seed(master, p) for p in purposes}
