"""Every command calls its library twin, and every twin takes every option its command has (issue 23).

The argparse tree that ``automux.cli`` builds is walked; each (sub)command's option
dests must be parameters of its twin (or of the functions its ``**kwargs`` reach).
A new command without a twin here, or a new option its twin lacks, fails this test.
"""
from __future__ import annotations

import argparse
import inspect
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

import automux
from automux import api
from automux.cli import build_parser

#: Options that only the command line has: output form, where the store is (a twin takes ``store=``
#: wherever it reads one, but ``backends`` and ``select`` read none), and how much of a table to print.
CLI_ONLY = {"json", "store", "no_progress", "top"}

#: CLI dest -> the twin's parameter, where the names differ (a negative flag names the positive parameter).
RENAMED = {"grace": "grace_s", "timeout": "timeout_s", "startup_timeout": "startup_timeout_s",
           "no_check": "readiness", "no_build": "build", "option": "options", "repeats": "n_repeats",
           "no_save": "save", "older_than": "older_than_days", "no_env_builds": "allow_env_builds",
           "evidence": "result_files", "no_progress": "progress", "no_warm": "warm"}


def _twins() -> Dict[str, List[Callable[..., Any]]]:
    """Command -> its twin and, when the twin forwards ``**kwargs``, where they go."""
    from automux.bench import make_report
    from automux.bench.runner import run_suite
    from automux.governance.readiness import check_data
    from automux.integrations.mlflow_export import export_runs
    from automux.select.rules import Constraints
    from automux.select.selector import select

    return {
        "backends": [api.backends],
        "run": [api.run, api.experiment],
        "compare": [api.compare, api.experiment],
        "verify": [api.verify],
        "runs list": [api.runs],
        "runs show": [api.load_run],
        "runs leaderboard": [api.runs_leaderboard],
        "runs delete": [api.delete_runs],
        "runs prune": [api.prune_runs],
        "runs reindex": [automux.RunStore.reindex],
        "runs export-mlflow": [export_runs],
        "predict": [api.predict],
        "explain": [automux.importance],
        "ensemble": [api.ensemble],
        "bench": [run_suite],
        "report": [make_report],
        "select": [select, Constraints],
        "check": [api.check, check_data],
        "promote": [api.promote],
    }


#: Commands whose library side is not one function, and why.
NO_TWIN = {
    "contracts": "the adapter contract suite: automux.contracts.runner.check_adapter with a ContractConfig",
    "env build": "automux.core.env.build.build_env takes the recipe the command resolves from a name",
    "env lock": "automux.core.env.build.resolve_lock, likewise from a recipe",
    "env list": "automux.core.env.table.env_table, from every adapter's recipe",
    "env remove": "automux.core.env.cache.remove_env",
}

#: (command, dest) -> the twin's parameter, where one command names it otherwise.
PER_COMMAND = {("report", "dir"): "out_dir", ("select", "budget_seconds"): "time_budget_s",
               ("select", "budget_trials"): "trials"}


def _commands(p: argparse.ArgumentParser, path: Tuple[str, ...] = ()) -> Iterator[Tuple[str, List[str]]]:
    leaf = True
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            leaf = False
            for name, sub in action.choices.items():
                yield from _commands(sub, path + (name,))
    if path and leaf:
        yield " ".join(path), [a.dest for a in p._actions
                               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _params(fns: List[Callable[..., Any]]) -> set:
    return {name for f in fns for name in inspect.signature(f).parameters}


COMMANDS = dict(_commands(build_parser()))


def test_every_command_is_mapped():
    mapped = set(_twins()) | set(NO_TWIN)
    assert set(COMMANDS) - mapped == set(), "a command without a library twin: add it to _twins()"
    assert mapped - set(COMMANDS) == set(), "a twin for a command that no longer exists"


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - set(NO_TWIN)))
def test_twin_takes_every_option(command):
    params = _params(_twins()[command])
    missing = [d for d in COMMANDS[command] if d not in CLI_ONLY
               and PER_COMMAND.get((command, d), RENAMED.get(d, d)) not in params]
    assert missing == [], f"`automux {command}` options its twin lacks: {missing}"


def test_a_missing_parameter_is_caught():
    """The check itself: a twin without ``out`` fails for ``predict``."""
    def predict(run_id, data, *, store=None, build=True, timeout_s=None):  # no out
        pass
    params = _params([predict])
    assert [d for d in COMMANDS["predict"] if d not in CLI_ONLY and RENAMED.get(d, d) not in params] == ["out"]
