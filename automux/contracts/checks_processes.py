"""The check that no process a run started outlives it."""
from __future__ import annotations

from typing import Optional

from ..core.adapter import Adapter
from . import processes
from ._common import ctx_for
from .context import ContractContext
from .results import CheckFailed, CheckSkipped


def check_no_process_left_behind(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """No process a run started outlives the run (checked after every run the suite made)."""
    if not processes.supported():
        raise CheckSkipped("needs /proc (Linux) to see the processes a run started")
    ctx = ctx_for(adapter, ctx)
    ctx.base_run()
    left = ctx.all_leftovers()
    if left:
        run, procs = left[0]
        shown = "; ".join(p.describe() for p in procs[:3])
        raise CheckFailed(f"{sum(len(p) for _, p in left)} processes outlived {len(left)} of {len(ctx.runs)} runs "
                          f"(run {run.record.run_id}: {shown}); the suite has ended them")
    return f"none after {len(ctx.runs)} runs"
