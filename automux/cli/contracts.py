"""``automux contracts NAME [--json]``: the conformance suite from the command line.

Exit 0 when no check failed, 1 when one did, 2 for bad input (unknown backend,
one that cannot run here, a malformed option). Imports nothing heavy until run.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List

from ..core.errors import UserError

EXIT_OK, EXIT_FAILED = 0, 1


class ContractsUsageError(UserError, ValueError):
    """A malformed ``automux contracts`` option."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("contracts", help="the conformance suite against one adapter",
                       description="Run every contract check that applies to one adapter.")
    p.add_argument("backend", help="a backend name (see `automux backends`) or module:Class")
    p.add_argument("--json", action="store_true", help="print [{check, status, message}] for scripts")
    p.add_argument("--list", action="store_true", help="list the checks that apply, run none")
    p.add_argument("--check", action="append", metavar="CHECK",
                   help="run only this check (repeatable; default every check that applies)")
    p.add_argument("--trials", type=int, help="trial budget of the base runs (default max(min budget, 3))")
    p.add_argument("--seconds", type=float, help="budget of the seconds-budget check (default the min budget)")
    p.add_argument("--grace", type=float, help="grace past a seconds budget (default 15)")
    p.add_argument("--xfail", action="append", default=[], metavar="CHECK=REASON",
                   help="a check expected to fail, with the reason (repeatable)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option for every run (repeatable; VALUE parsed as JSON when it can be)")
    p.set_defaults(handler=run)


def _pairs(items: List[str], flag: str, as_json: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ContractsUsageError(f"{flag} {item!r}: write it as KEY=VALUE")
        if as_json:
            try:
                out[key] = json.loads(value)
                continue
            except ValueError:
                pass
        out[key] = value
    return out


def run(args: argparse.Namespace, store: Any) -> int:
    """Run the suite (the run store is not used: checks run in a scratch store)."""
    from ..contracts.checks import ALL_CHECKS, yield_checks
    from ..contracts.context import ContractConfig
    from ..contracts.runner import check_adapter, resolve_adapter

    expected = _pairs(args.xfail, "--xfail", as_json=False)
    known = {c.__name__ for c in ALL_CHECKS}
    for flag, names in (("--xfail", expected), ("--check", args.check or [])):
        unknown = sorted(set(names) - known)
        if unknown:
            raise ContractsUsageError(f"{flag} {unknown[0]}: no such check (known: {', '.join(sorted(known))})")
    if args.trials is not None and args.trials <= 0:
        raise ContractsUsageError(f"--trials {args.trials}: must be positive")
    from ..core.inputs import check_seconds
    check_seconds(args.seconds, "--seconds")
    if args.grace is not None and not 0 <= args.grace < float("inf"):
        raise ContractsUsageError(f"--grace {args.grace}: give zero or more finite seconds")
    adapter = resolve_adapter(args.backend)
    if args.list:
        names = [c.__name__ for c in yield_checks(adapter)]
        if args.json:
            sys.stdout.write(json.dumps(names, indent=2) + "\n")
        else:
            print("\n".join(names))
        return EXIT_OK
    config = ContractConfig(trials=args.trials, seconds=args.seconds, grace_s=args.grace,
                            options=_pairs(args.option, "--option", as_json=True))

    def progress(result: Any) -> None:
        sys.stderr.write(f"[contracts {adapter.name}] {result.check}: {result.status} ({result.duration_s:.1f}s)\n")
        sys.stderr.flush()

    results = check_adapter(adapter, on_fail=None, expected_failed_checks=expected, config=config,
                            progress=progress, checks=args.check)
    if args.json:
        sys.stdout.write(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    elif results:
        width = max(len(r.check) for r in results)
        for r in results:
            print(f"{r.check.ljust(width)}  {r.status:7}  {r.duration_s:6.1f}s  {r.message}")
        counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped", "xfail")}
        print(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    else:
        print(f"none of the selected checks applies to {adapter.name}")
    return EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK
