"""``automux verify RUN_ID``: re-run a recorded spec and compare (exit 1 when different)."""
from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, EXIT_RUN_FAILED, add_store, emit as _emit


def add_parser(sub: Any) -> None:
    """Register ``verify``."""
    p = sub.add_parser("verify", help="re-run a recorded spec and compare")
    p.add_argument("run_id")
    p.add_argument("--data", help="the data again, when the run was made from a DataFrame")
    p.add_argument("--inline", action="store_true")
    p.add_argument("--json", action="store_true")
    add_store(p)
    p.set_defaults(handler=cmd_verify)


def cmd_verify(a: argparse.Namespace, store: Any) -> int:
    import automux
    from ..progress import Progress

    out = automux.verify(a.run_id, store=store, data=a.data, inline=a.inline, progress=Progress())
    if a.json:
        _emit(out)
    else:
        print(f"{a.run_id} vs {out['rerun_id']}: {out['verdict']}")
    return EXIT_OK if out["verdict"] != "different" else EXIT_RUN_FAILED
