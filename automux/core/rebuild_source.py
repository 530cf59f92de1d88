"""Write a live scikit-learn style estimator back as plain Python source (for explicit rebuilds).

Adapters whose backend hands them the estimator it fitted (FLAML's learner, TPOT's
pipeline) use :func:`estimator_expr` while the search runs, and store the result
in the candidate's ``info["rebuild"]``; :func:`rebuild_file` turns that into the
stand-alone file promotion runs. Imported only inside adapter methods.

The contract: the expression, evaluated after the imports, constructs an
unfitted estimator with the same ``get_params(deep=False)`` at every level as
the original (parameters equal to the constructor's defaults are left to them).
Anything that cannot be written that way (a value that is not a literal, a class
from automux or an AutoML backend) raises
:class:`Unrebuildable` naming it, which becomes the candidate's refusal reason.
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Callable, Dict, List, Optional, Set

import numpy as np

from .errors import AutomuxError

#: Top-level packages a rebuild may not import (kept in step with promotion's blocked list).
FORBIDDEN = ("automux", "optuna", "flaml", "tpot", "h2o", "pycaret", "autosklearn", "autogluon", "mlflow")

#: ``substitute(obj, imports) -> expression or None``: an adapter's rewrite of one backend class.
Substitute = Callable[[Any, Set[str]], Optional[str]]


class Unrebuildable(AutomuxError, ValueError):
    """The estimator holds something that cannot be written as plain source (the message says what)."""


def _public_module(obj: Any) -> str:
    """The shortest dotted module path that exports ``obj`` (``sklearn.ensemble`` over ``sklearn.ensemble._forest``)."""
    module = obj.__module__
    parts = module.split(".")
    for n in range(1, len(parts)):
        candidate = ".".join(parts[:n])
        try:
            if getattr(importlib.import_module(candidate), obj.__name__, None) is obj:
                return candidate
        except Exception:  # noqa: BLE001 - any import problem: keep the full path
            continue
    return module


def _import(obj: Any, imports: Set[str]) -> str:
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", ""))
    module = getattr(obj, "__module__", None) or ""
    if not name or "<" in name or "." in name or not module or module == "__main__":
        raise Unrebuildable(f"{obj!r} is not importable by name")
    top = module.partition(".")[0]
    if top in FORBIDDEN:
        raise Unrebuildable(f"{module}.{name} belongs to {top}, which a rebuild may not import")
    imports.add(f"from {_public_module(obj)} import {name}")
    return name


def literal(value: Any, imports: Set[str], substitute: Optional[Substitute] = None) -> str:
    """Python source for ``value``; estimators recurse through ``get_params(deep=False)``."""
    if isinstance(value, np.generic):  # before str: numpy's str_ is a str whose repr names numpy
        return literal(value.item(), imports, substitute)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        return repr(float(value))
    if isinstance(value, list):
        return "[" + ", ".join(literal(v, imports, substitute) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(literal(v, imports, substitute) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k, imports, substitute)}: {literal(v, imports, substitute)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, type) or (callable(value) and not hasattr(value, "get_params")
                                   and hasattr(value, "__name__")):
        return _import(value, imports)
    if hasattr(value, "get_params"):
        return estimator_expr(value, imports, substitute)
    raise Unrebuildable(f"a {type(value).__name__} value ({value!r:.60}) cannot be written as source")


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and the like: write them out
        return False


def _changed_params(est: Any) -> Dict[str, Any]:
    """``get_params(deep=False)`` minus the values equal to the constructor's own defaults.

    Leaving defaults out keeps the source valid where the rebuild's library version
    dropped a deprecated parameter (PyCaret's scikit-learn 1.4 ``multi_class`` in a
    newer scikit-learn); promotion's fold-score comparison says whether the default
    still means the same thing there.
    """
    import inspect

    params = est.get_params(deep=False)
    try:
        signature = inspect.signature(type(est).__init__).parameters
    except (TypeError, ValueError):
        return params
    out = {}
    for k, v in params.items():
        p = signature.get(k)
        if p is None or p.default is inspect.Parameter.empty or not _same(v, p.default):
            out[k] = v
    return out


def estimator_expr(est: Any, imports: Set[str], substitute: Optional[Substitute] = None) -> str:
    """``Class(param=..., ...)`` for an estimator, every parameter that differs from its default written out."""
    if substitute is not None:
        swapped = substitute(est, imports)
        if swapped is not None:
            return swapped
    name = _import(type(est), imports)
    params = _changed_params(est)
    args = ", ".join(f"{k}={literal(v, imports, substitute)}" for k, v in sorted(params.items()))
    return f"{name}({args})"


def rebuild_info(est: Any, substitute: Optional[Substitute] = None, **extra: Any) -> Dict[str, Any]:
    """JSON-able ``{expr, imports}`` of ``est``, or ``{refusal}`` naming why it cannot be written."""
    imports: Set[str] = set()
    try:
        expr = estimator_expr(est, imports, substitute)
    except Unrebuildable as e:
        return {"refusal": str(e)}
    return {"expr": expr, "imports": sorted(imports), **extra}


def rebuild_file(title: str, info: Dict[str, Any], seed: int, prelude: List[str] = ()) -> str:
    """The stand-alone file: imports, ``SEED``, and ``build_model(seed=SEED)``.

    ``build_model(SEED)`` (the run's backend seed) returns the estimator exactly as
    the backend fitted it, its own ``random_state`` values included. Any other seed
    replaces every integer ``random_state`` at every level by that seed, so that
    promotion's extra seeds re-validate the candidate under new randomness.
    """
    lines = [f'"""{title}"""'] + list(info["imports"]) + list(prelude) + [
        "", f"SEED = {int(seed)!r}", "", "",
        "def build_model(seed=SEED):",
        '    """The unfitted estimator; seed SEED gives the backend seeds, others reseed it."""',
        f"    model = {info['expr']}",
        "    if seed != SEED:",
        "        model.set_params(**{k: int(seed) for k, v in model.get_params(deep=True).items()",
        '                            if k.endswith("random_state") and isinstance(v, int) and not isinstance(v, bool)})',
        "    return model",
        ""]
    return "\n".join(lines)
