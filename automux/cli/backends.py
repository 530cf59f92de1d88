"""``automux backends``: adapters found, whether each can run here; imports no backend."""
from __future__ import annotations

import argparse
from typing import Any, Dict

from ._common import EXIT_OK, emit as _emit, table as _table


def add_parser(sub: Any) -> None:
    """Register ``backends``."""
    p = sub.add_parser("backends", help="adapters found, whether each can run here; imports no backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_backends)


def cmd_backends(a: argparse.Namespace, store: Any = None) -> int:
    """Every adapter with where it came from; plugin problems (load errors, hook errors, duplicate names) too."""
    import automux

    found = automux.backends()
    failures = [{"name": f["plugin"], "available": False, "reason": f"plugin problem: {f['error']}",
                 "env": None, "capabilities": None, "origin": None} for f in automux.plugin_failures()]
    if a.json:
        _emit(found + failures)
        return EXIT_OK
    def source(b: Dict[str, Any]) -> str:
        o = b.get("origin") or {}
        return f"{o['distribution']} {o.get('version') or ''}".strip() if o.get("distribution") else "-"
    rows = [[b["name"], "yes" if b["available"] else "no", b["env"]["name"], ",".join(b["capabilities"]["tasks"]),
             source(b), b["reason"] or ""] for b in found]
    rows += [[f["name"], "no", "-", "-", "-", f["reason"]] for f in failures]
    print(_table(rows, ["backend", "available", "env", "tasks", "from", "reason"]))
    return EXIT_OK
