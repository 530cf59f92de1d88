"""The bench's progress bar on stderr: a live bar on a terminal, one line per cell otherwise."""
from __future__ import annotations

import sys
import time
from typing import Any, Dict, Optional, TextIO


def _fmt_s(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class BenchProgress:
    """``start(cell)`` / ``done(cell, row, lost)`` as cells run; counts, elapsed and ETA."""

    WIDTH = 24

    def __init__(self, total: int, already: int = 0, stream: Optional[TextIO] = None, enabled: bool = True) -> None:
        self.total = total
        self.already = already
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.finished = 0
        self.counts: Dict[str, int] = {}
        self.last = ""

    def _write(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text)
            self.stream.flush()

    def _bar(self) -> str:
        done = self.already + self.finished
        share = done / self.total if self.total else 1.0
        fill = int(round(share * self.WIDTH))
        elapsed = time.monotonic() - self.t0
        eta = ""
        todo = self.total - done
        if self.finished and todo:
            eta = f" eta {_fmt_s(elapsed / self.finished * todo)}"
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return (f"[{'#' * fill}{'-' * (self.WIDTH - fill)}] {done}/{self.total} {share:4.0%} "
                f"{counts} {_fmt_s(elapsed)}{eta}")

    def note(self, text: str) -> None:
        """One line of information (e.g. a backend that cannot run here)."""
        self._write(text.rstrip("\n") + "\n")

    def begin(self, to_run: int, limit: Optional[int] = None) -> None:
        skipped = f", {self.already} already done" if self.already else ""
        now = f" ({limit} now: --max-cells)" if limit is not None and limit < to_run else ""
        self._write(f"bench: {self.total} cells{skipped}, {to_run} to run{now}\n")
        if self.tty:
            self._write("\r" + self._bar())

    def start(self, cell: Any) -> None:
        if self.tty:
            self._write("\r" + (self._bar() + f" | {cell.describe()}")[:150].ljust(150))

    def done(self, cell: Any, row: Optional[Dict[str, Any]], lost: Optional[str] = None) -> None:
        self.finished += 1
        status = "lost" if row is None else row.get("status", "?")
        self.counts[status] = self.counts.get(status, 0) + 1
        detail = ""
        if row is not None and row.get("result") is not None:
            detail = f" {row['metric']}={row['result']:.5g}"
        if row is not None and row.get("duration") is not None:
            detail += f" ({row['duration']:.1f}s)"
        if status not in ("ok",) and row is not None and row.get("info"):
            detail += f": {str(row['info'])[:120]}"
        if lost:
            detail += f": {lost[:120]}"
        line = f"{cell.describe()}: {status}{detail}"
        if self.tty:
            self._write("\r" + " " * 150 + "\r" + line + "\n" + self._bar())
        else:
            self._write(f"[{self.already + self.finished}/{self.total}] {line}\n")

    def end(self) -> None:
        if self.tty:
            self._write("\n")
