"""What the perf scripts share: the commit they measured and their results CSV."""
from __future__ import annotations

import csv
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence


def short_commit(tree: Path) -> str:
    """``git rev-parse --short HEAD`` of ``tree``; "?" when it cannot be read."""
    try:
        p = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=tree)
    except OSError:
        return "?"
    return p.stdout.strip() or "?"


def write_rows(path: Path, fields: Sequence[str], rows: List[Dict[str, Any]]) -> None:
    """The rows so far as a CSV with ``fields`` as its header (rewritten whole, so a stopped script leaves a
    complete file)."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fields))
        w.writeheader()
        w.writerows(rows)
