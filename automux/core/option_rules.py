"""Value rules for backend options, declared as data by adapters and checked in the parent.

An adapter declares ``option_rules = {"n_jobs": "cores", "population_size": "int>=2"}``;
:meth:`automux.core.adapter.Adapter.check_options` applies them with
:func:`check_values` before any worker starts, so ``--option n_jobs=0`` is exit 2
with one line, not a failed run. The rules:

* ``"int>=K"``: an integer (not a bool) of at least ``K`` (``K`` may be negative);
* ``"cores"``: a positive integer or ``-1`` (all cores), as scikit-learn's ``n_jobs``;
* ``"number>0"``: a positive finite number;
* ``"bool"``, ``"str"`` (non-empty), ``"str-list"`` (a non-empty list of non-empty strings);
* a tuple of allowed values.

Standard library only; imported on use by the parent, never by the worker.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .errors import SpecError

Rule = Union[str, Tuple[Any, ...]]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def problem(value: Any, rule: Rule) -> Optional[str]:
    """What is wrong with ``value`` under ``rule`` (as ``give ...``), or None when it is fine."""
    if isinstance(rule, tuple):
        return None if value in rule else f"choose one of {', '.join(map(repr, rule))}"
    if rule.startswith("int>="):
        low = int(rule[len("int>="):])
        return None if _is_int(value) and value >= low else f"give an integer of at least {low}"
    if rule == "cores":
        return None if _is_int(value) and (value >= 1 or value == -1) else \
            "give a positive number of cores, or -1 for all of them"
    if rule == "number>0":
        ok = (_is_int(value) or isinstance(value, float)) and 0 < value < math.inf
        return None if ok else "give a positive, finite number"
    if rule == "bool":
        return None if isinstance(value, bool) else "give true or false"
    if rule == "str":
        return None if isinstance(value, str) and value.strip() else "give a non-empty string"
    if rule == "str-list":
        ok = isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
        return None if ok else 'give a JSON list of names, e.g. ["a","b"]'
    raise ValueError(f"unknown option rule {rule!r}")  # an adapter bug, not a user error


def check_values(backend: str, options: Mapping[str, Any], rules: Dict[str, Rule]) -> None:
    """Raise :class:`SpecError` (one line) for the first option whose value breaks its declared rule."""
    for key in sorted(options):
        if key in rules:
            why = problem(options[key], rules[key])
            if why:
                raise SpecError(f"backend {backend!r} option {key}={options[key]!r}: {why} "
                                f"(--option {key}=VALUE)")
