"""Interrupts are runs too: SIGINT, SIGTERM and SIGHUP become an exception the run machinery can record.

:func:`signals_as_interrupts` (a context manager; a no-op off the main thread)
turns those signals into :class:`Interrupted` (a ``KeyboardInterrupt``, so code
that already cleans up on Ctrl-C does so for all three). The executor ends the
worker's process group, ``execute`` stores a record with status
``interrupted`` and re-raises; the CLI exits ``128 + signal`` (130, 143, 129).
Once one signal has been taken, later ones are ignored until the handler is
removed, so the record is written even if the user presses Ctrl-C twice.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Dict, Iterator

SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class Interrupted(KeyboardInterrupt):
    """The process received ``signum`` (SIGINT, SIGTERM or SIGHUP) while a run was in flight."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_of(exc: BaseException) -> int:
    """The signal behind an interrupt: its own for :class:`Interrupted`, SIGINT for a plain KeyboardInterrupt."""
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


_depth = 0
_taken: Dict[str, Any] = {}


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGINT / SIGTERM / SIGHUP raise :class:`Interrupted` (once); nested uses share one."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return

    def handler(signum: int, frame: Any) -> None:
        if _taken.get("signum") is not None:
            return  # already interrupting: let the cleanup finish
        _taken["signum"] = signum
        raise Interrupted(signum)

    old = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        if old[s] is signal.SIG_IGN and s != signal.SIGTERM:
            continue  # nohup, or a background job: the user asked to ignore it
        signal.signal(s, handler)
    _depth = 1
    _taken.clear()
    try:
        yield
    finally:
        _depth = 0
        for s, h in old.items():
            signal.signal(s, h)
        _taken.clear()
