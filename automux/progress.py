"""A small progress display on stderr (no dependency): one line per event, live counter on a tty."""
from __future__ import annotations

import sys
import time
from typing import Any, Dict, Optional, TextIO


class Progress:
    """Callable as a runner ``progress`` hook: ``progress(event, info)``."""

    def __init__(self, stream: Optional[TextIO] = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._t0 = time.monotonic()
        self._n = 0

    def _write(self, text: str, end: str = "\n") -> None:
        if self.enabled:
            self.stream.write(text + end)
            self.stream.flush()

    def __call__(self, event: str, info: Dict[str, Any]) -> None:
        backend = info.get("backend", "")
        if event == "readiness":
            ready = info["readiness"]
            self._write(f"readiness: {ready['verdict']}")
            for w in ready["warnings"]:
                column = f" [{w['column']}]" if w.get("column") else ""
                self._write(f"  {w.get('severity', 'warning')} {w['kind']}{column}: {w['reason']}")
        elif event == "started":
            self._t0, self._n = time.monotonic(), 0
            self._write(f"[{backend}] run {info['run_id']} started")
        elif event == "candidate":
            self._n += 1
            c = info["candidate"]
            score = "n/a" if c.cv_score is None else f"{c.cv_score:.5f}"
            text = f"[{backend}] {self._n} candidates, {time.monotonic() - self._t0:5.1f}s, last {c.algorithm} cv={score}"
            if self.tty:
                self._write("\r" + text.ljust(100), end="")
            else:
                self._write(text)
        elif event == "finished":
            r = info["record"]
            if self.tty and self._n:
                self._write("")
            score = "" if r.score is None else f" {r.metric}={r.score:.5f}"
            self._write(f"[{backend}] {r.status}{score} in {r.durations['total']:.1f}s")
