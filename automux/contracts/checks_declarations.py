"""Checks on what an adapter declares: its capabilities, its environment recipe, a light import, its options.

None of them runs a search: they read the adapter's declarations (and import its module in a
fresh interpreter) and fail on a malformed or untrue one.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any, Dict, List, Optional, Set

from ..core.adapter import Adapter
from ..core.capabilities import BUDGET_MODES, PRODUCES, STRENGTHS, TASK_NAMES, Capabilities, Environment
from ..core.errors import SpecError
from ._common import fail_if
from .context import ContractContext
from .results import CheckFailed, CheckSkipped

IMPORT_CHECK_TIMEOUT_S = 120.0
#: The option key no adapter declares: ``check_options`` must refuse it.
UNDECLARED_OPTION = "automux_contracts_no_such_option"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def check_capabilities_well_formed(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """``name`` and ``capabilities`` are well-formed data that survive a JSON round trip."""
    problems: List[str] = []
    if not isinstance(adapter.name, str) or not _NAME.match(adapter.name):
        problems.append(f"name {adapter.name!r} is not a plain identifier (letters, digits, _ . -)")
    caps = adapter.capabilities
    if not isinstance(caps, Capabilities):
        raise CheckFailed(f"capabilities is a {type(caps).__name__}, not automux.Capabilities")
    tasks = tuple(caps.tasks) if isinstance(caps.tasks, (tuple, list)) else ()
    if not tasks or any(t not in TASK_NAMES for t in tasks) or len(set(tasks)) != len(tasks):
        problems.append(f"tasks {caps.tasks!r} must be distinct names among {', '.join(TASK_NAMES)}")
    modes = tuple(caps.budget_modes) if isinstance(caps.budget_modes, (tuple, list)) else ()
    if not modes or any(m not in BUDGET_MODES for m in modes):
        problems.append(f"budget_modes {caps.budget_modes!r} must be non-empty, among {', '.join(BUDGET_MODES)}")
    if not isinstance(caps.deterministic, dict):
        problems.append("deterministic must map a budget mode to a bool")
    else:
        for k, v in caps.deterministic.items():
            if k not in BUDGET_MODES or not isinstance(v, bool):
                problems.append(f"deterministic[{k!r}] = {v!r}: keys are budget modes, values bools")
    for flag in ("custom_folds", "categorical", "missing_values", "interpretable", "seeded"):
        if not isinstance(getattr(caps, flag), bool):
            problems.append(f"{flag} = {getattr(caps, flag)!r} is not a bool")
    if caps.produces not in PRODUCES:
        problems.append(f"produces = {caps.produces!r}: choose one of {', '.join(PRODUCES)}")
    if not isinstance(caps.min_budget, dict):
        problems.append("min_budget must map each budget mode to a positive number")
    else:
        for m in modes:
            v = caps.min_budget.get(m)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                problems.append(f"min_budget[{m!r}] = {v!r}: give a positive number for every budget mode")
            elif m == "trials" and float(v) != int(v):
                problems.append(f"min_budget['trials'] = {v!r} is not a whole number")
    if caps.distributed is not None and (not isinstance(caps.distributed, str) or not caps.distributed):
        problems.append(f"distributed = {caps.distributed!r}: None or a non-empty name")
    if not isinstance(caps.strengths, (tuple, list)) or not all(isinstance(s, str) for s in caps.strengths):
        problems.append("strengths must be a tuple of strings")
    else:
        unknown = [s for s in caps.strengths if s not in STRENGTHS]
        if unknown:
            problems.append(f"strengths {unknown}: choose from {', '.join(STRENGTHS)}")
    if caps.interpretable is True and caps.produces in ("ensemble", "stack"):
        problems.append(f"interpretable = True with produces = {caps.produces!r}: an ensemble is not interpretable")
    _json_round_trip(caps.to_json(), "capabilities do not serialise to JSON", problems)
    fail_if(problems, "malformed capabilities")
    return f"{len(tasks)} tasks, budget modes {', '.join(modes)}"


def _json_round_trip(value: Any, problem: str, problems: List[str]) -> None:
    """Add ``problem (the error)`` to ``problems`` when ``value`` (a declaration's JSON form) fails a JSON round trip."""
    try:
        json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        problems.append(f"{problem} ({e})")


def _bad_specifier(spec: str) -> Optional[str]:
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - packaging is near-universal
        ok = all(re.match(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*[0-9][0-9A-Za-z.*+!-]*\s*$", part)
                 for part in spec.split(","))
        return None if ok else "not a version specifier"
    try:
        SpecifierSet(spec)
    except InvalidSpecifier as e:
        return str(e)
    return None


def _admits_this_python(spec: str) -> bool:
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pragma: no cover
        return True
    return "{}.{}.{}".format(*sys.version_info[:3]) in SpecifierSet(spec)


def _bad_requirement(req: str) -> Optional[str]:
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover
        return None if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*", req) else "not a requirement"
    try:
        Requirement(req)
    except InvalidRequirement as e:
        return str(e)
    return None


def check_environment_well_formed(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """The environment recipe parses, admits this interpreter when it is ``main``, and can be checked."""
    env = adapter.environment
    if not isinstance(env, Environment):
        raise CheckFailed(f"environment is a {type(env).__name__}, not automux.Environment")
    problems: List[str] = []
    if not isinstance(env.name, str) or not _NAME.match(env.name):
        problems.append(f"env name {env.name!r} is not a plain identifier")
    bad = _bad_specifier(env.python) if isinstance(env.python, str) else "not a string"
    if bad:
        problems.append(f"python = {env.python!r} is not a version specifier ({bad})")
    elif env.name == "main" and not _admits_this_python(env.python):
        here = "{}.{}.{}".format(*sys.version_info[:3])
        problems.append(f"the main env runs Python {here}, which python = {env.python!r} excludes")
    for req in env.requirements:
        bad = _bad_requirement(req) if isinstance(req, str) else "not a string"
        if bad:
            problems.append(f"requirement {req!r} does not parse ({bad})")
    if env.name != "main" and not env.requirements:
        problems.append(f"the isolated env {env.name!r} lists no requirements to build it from")
    for mod in env.import_names:
        if not isinstance(mod, str) or not _MODULE.match(mod):
            problems.append(f"import name {mod!r} is not a module path")
    try:
        reason = adapter.unavailable_reason()
        if reason is not None and not isinstance(reason, str):
            problems.append(f"unavailable_reason() returned {reason!r}, not None or a string")
    except Exception as e:  # noqa: BLE001 - any exception is the finding
        problems.append(f"unavailable_reason() raised {type(e).__name__}: {e}")
    _json_round_trip(env.to_json(), "environment does not serialise to JSON", problems)
    fail_if(problems, "malformed environment")
    return f"env {env.name} (python {env.python})"


_imported: Dict[str, Set[str]] = {}


def _modules_imported_by(module: str) -> Set[str]:
    """Every module in ``sys.modules`` after importing ``module`` in a fresh interpreter (cached)."""
    if module not in _imported:
        code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
                "print(json.dumps(sorted(sys.modules)))")
        proc = subprocess.run([sys.executable, "-c", code, module], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=IMPORT_CHECK_TIMEOUT_S)
        if proc.returncode != 0:
            raise CheckFailed(f"importing {module} in a fresh interpreter failed: "
                              f"{proc.stderr.decode(errors='replace')[-800:]}")
        _imported[module] = set(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
    return _imported[module]


def check_import_is_light(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Importing the adapter's module in a fresh interpreter imports none of its backend modules."""
    module = type(adapter).__module__
    if module in ("__main__", "builtins"):
        raise CheckFailed(f"the adapter class lives in {module}: the worker imports adapters by module path, "
                          "so define it in an importable module")
    heavy = sorted({m.split(".")[0] for m in adapter.environment.import_names})
    loaded = _modules_imported_by(module)
    pulled = [m for m in heavy if m in loaded]
    if pulled:
        raise CheckFailed(f"importing {module} imports {', '.join(pulled)}: import backend libraries inside "
                          "the adapter's methods, so listing backends stays fast")
    return f"{module} imports none of {', '.join(heavy) or '(no import names declared)'}"


def check_undeclared_options_refused(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """``check_options`` (called in the parent before any worker) refuses a key no adapter declares."""
    if getattr(adapter, "free_form_options", False):
        raise CheckSkipped("declares free-form options (free_form_options = True)")
    try:
        adapter.check_options({UNDECLARED_OPTION: 1})
    except SpecError:
        return f"option {UNDECLARED_OPTION!r} refused with SpecError"
    except Exception as e:  # noqa: BLE001 - the wrong type is the finding
        raise CheckFailed(f"check_options raised {type(e).__name__} for an undeclared option, not SpecError: {e}")
    raise CheckFailed(f"check_options accepted the undeclared option {UNDECLARED_OPTION!r}: a typo would be "
                      "silently ignored (declare accepted_options, or call super().check_options(options))")
