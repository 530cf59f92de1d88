"""The memory a run may use (``--memory``): parsed, checked, and its default share of the machine.

Sizes are binary: ``512M`` is 512 MiB, ``4G`` is 4 GiB (``K``, ``M``, ``G``, ``T``, an
optional ``B`` / ``iB``, decimals allowed, case ignored). ``all`` is the whole machine.
The default is :data:`DEFAULT_SHARE` of the machine's memory, where the machine's
memory is the physical memory (``/proc/meminfo``'s MemTotal), or the memory limit
of the cgroup automux itself runs in when that is smaller (a container). The
resolved number of MiB is what the spec records, like ``--cores all``. Enforcement
is on the parent side: :mod:`automux.core.run.memory`.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Union

from ..errors import SpecError

#: The default limit: this share of the machine's memory (the rest is for the parent and the system).
DEFAULT_SHARE = 0.75
#: The smallest limit accepted: below it a Python worker cannot even import its backend.
MIN_MB = 128

_UNITS = {"K": 1.0 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 * 1024}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMGT])(?:I?B)?\s*$", re.IGNORECASE)
_NO_LIMIT = 1 << 60  # cgroup v1's "max" is a huge number


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def _own_cgroup_limit_bytes() -> Optional[int]:
    """The memory limit of the cgroup this process runs in (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``)."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            limits.append(_read_int(f"/sys/fs/cgroup{path}/memory.max"))
            limits.append(_read_int(f"/sys/fs/cgroup/unified{path}/memory.max"))
        elif "memory" in controllers.split(","):
            limits.append(_read_int(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
    real = [x for x in limits if x is not None and 0 < x < _NO_LIMIT]
    return min(real) if real else None


def machine_mb() -> int:
    """This machine's memory in MiB: physical memory, or automux's own cgroup limit when that is smaller."""
    total = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    except (OSError, ValueError, StopIteration):
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = None
    limit = _own_cgroup_limit_bytes()
    sizes = [x for x in (total, limit) if x]
    return int(min(sizes) // (1024 * 1024)) if sizes else 0


def default_mb() -> int:
    """The limit a run gets when ``--memory`` is not given: :data:`DEFAULT_SHARE` of :func:`machine_mb`."""
    return max(MIN_MB, int(machine_mb() * DEFAULT_SHARE))


def effective_mb(spec_mb: Optional[int]) -> int:
    """The limit a run is held to: the spec's ``--memory`` when given, else :func:`default_mb` of this machine."""
    return int(spec_mb) if spec_mb else default_mb()


def describe(mb: Union[int, float]) -> str:
    """A size for people: ``0.29 GB`` / ``17.6 GB`` (binary GB, as ``--memory`` reads them)."""
    gb = mb / 1024.0
    return f"{gb:.2f} GB" if gb < 10 else f"{gb:.1f} GB"


def resolve_memory(memory: Optional[Union[str, int]]) -> int:
    """``--memory`` as MiB: None -> the default share, ``all`` -> the machine, ``4G`` / ``512M`` as given.

    An int is taken as MiB (the Python API). Raises :class:`SpecError` with one line
    saying what to give for a malformed size, one below :data:`MIN_MB`, or one
    larger than this machine.
    """
    if memory is None:
        return default_mb()
    machine = machine_mb()
    if isinstance(memory, bool):
        raise SpecError(f"--memory {memory!r}: give a size such as 512M or 4G, or `all`")
    if isinstance(memory, (int, float)):
        mb = float(memory)
    elif isinstance(memory, str) and memory.strip().lower() == "all":
        return machine or default_mb()
    else:
        m = _SIZE.match(memory) if isinstance(memory, str) else None
        if m is None:
            raise SpecError(f"--memory {memory!r}: give a size with a unit, such as 512M or 4G, or `all` "
                            f"(default {DEFAULT_SHARE:.0%} of this machine's memory)")
        mb = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not mb >= MIN_MB:
        raise SpecError(f"--memory {memory!r}: a run needs at least {MIN_MB}M")
    if machine and mb > machine:
        raise SpecError(f"--memory {memory!r}: this machine has {describe(machine)}; give at most that, or `all`")
    return int(mb)
