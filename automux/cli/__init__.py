"""``automux ...``: a thin layer over the library. Exit codes: 0 ok, 1 a run failed, 2 bad input.

Every command lives in a module of this package with ``add_parser(sub)``, which
registers subcommands whose ``handler`` default is ``handler(args, store) -> int``.
Command modules import argparse only at module level; handlers import the
library on use, so ``automux --help`` imports no backend.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Optional, Sequence

from ._common import EXIT_OK, EXIT_USAGE, Parser, UsageError, add_store

__all__ = ["main", "build_parser", "UsageError", "COMMAND_MODULES"]

#: The command modules, in the order ``automux --help`` lists them.
COMMAND_MODULES = ("backends", "run", "verify", "store", "contracts", "env", "predict", "explain", "ensemble", "bench",
                   "select", "governance", "mlflow")


def build_parser() -> Parser:
    parser = Parser(prog="automux", description="Many AutoML backends behind one reproducibility contract.")
    parser.add_argument("--store", help="run store directory (default ./automux-runs or $AUTOMUX_STORE)")
    parser.add_argument("--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    _store_everywhere(sub)
    return parser


def _store_everywhere(sub: Any) -> None:
    """``--store`` is shared: accepted after every (sub)command too, not only before it."""
    for p in set(sub.choices.values()):
        if not any("--store" in a.option_strings for a in p._actions):
            add_store(p)
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                _store_everywhere(action)


#: The commands whose interrupted runs are stored with status interrupted.
_RECORDING = ("run", "compare", "verify")


def main(argv: Optional[Sequence[str]] = None) -> int:
    from ..core.errors import UserError

    parser = build_parser()
    a: Any = None
    try:
        a = parser.parse_args(argv)
        if a.version:
            from .._version import __version__
            print(__version__)
            return EXIT_OK
        if a.command is None:
            parser.print_help()
            return EXIT_USAGE
        from ..core.run.interrupts import signals_as_interrupts
        from ..core.run.store import RunStore
        with signals_as_interrupts():
            store = None if a.command == "backends" else RunStore(a.store)
            return a.handler(a, store)
    except (UsageError, UserError) as e:
        sys.stderr.write(f"automux: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt as e:  # SIGINT, SIGTERM or SIGHUP: the run in flight was recorded as interrupted
        from ..core.run.interrupts import signal_of
        import signal
        signum = signal_of(e)
        records = a is not None and a.command in _RECORDING
        sys.stderr.write(f"automux: interrupted by {signal.Signals(signum).name}"
                         + (": the run in flight is recorded with status interrupted (see `automux runs list`)\n"
                            if records else ": nothing was stored\n"))
        return 128 + signum
    except OSError as e:  # the disk, not the input: full, read-only, gone (each input path is checked before)
        where = f": {e.filename}" if e.filename else ""
        sys.stderr.write(f"automux: error: {e.strerror or e}{where} (check the path, its permissions and free "
                         "space, then rerun)\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
