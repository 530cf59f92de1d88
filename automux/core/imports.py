"""Optional imports with an install hint, for adapters and commands (as Optuna's ``_imports``).

Light on purpose (``importlib`` and :mod:`automux.core.errors` only): an adapter may import
it at module level, and the worker side stays small.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Optional, Type

from .errors import MissingExtra, UserError


def install_hint(module: str, extra: Optional[str] = None, pip: Optional[str] = None) -> str:
    """``pip install 'automux[EXTRA]'`` when an automux extra installs it, else ``pip install PIP``
    (``PIP`` defaults to the module's top-level name)."""
    if extra:
        return f"pip install 'automux[{extra}]'"
    return f"pip install {pip or module.split('.')[0]}"


def try_import(module: str, extra: Optional[str] = None, *, pip: Optional[str] = None,
               purpose: Optional[str] = None, error: Type[UserError] = MissingExtra) -> ModuleType:
    """Import ``module`` and return it, or raise ``error`` (``MissingExtra`` by default) with the install hint.

    ``purpose`` names what needs the module ("the flaml backend"); the message reads
    ``PURPOSE needs MODULE (WHY): HINT``, where ``WHY`` is the import's own error (it
    names a missing dependency of an installed module, too). ``extra`` / ``pip``: see
    :func:`install_hint`. Only ``ImportError`` is caught: a module that fails in another
    way raises as it did.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        who = purpose or "automux"
        raise error(f"{who} needs {module} ({e}): {install_hint(module, extra, pip)}") from e
