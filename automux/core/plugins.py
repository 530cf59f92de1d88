"""The plugin manager: discovery through the ``automux`` entry-point group.

First-party adapters register through the same group as third-party ones. A
plugin that fails to load is reported (``load_failures()``) and skipped, never
fatal. ``AUTOMUX_DISABLE_PLUGINS`` is a comma list of entry-point names to skip,
or ``*`` / ``all`` for every one. Loading happens on first use, never on import.
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import pluggy

from . import hookspecs
from .adapter import Adapter
from .errors import AutomuxError, BackendNotFound

ENTRY_POINT_GROUP = "automux"
DISABLE_ENV = "AUTOMUX_DISABLE_PLUGINS"

_lock = threading.Lock()
_manager: Optional[pluggy.PluginManager] = None
_failures: List[Tuple[str, str]] = []
_adapters: Optional[Dict[str, Adapter]] = None


def _entry_points() -> List[Any]:
    if sys.version_info >= (3, 10):
        from importlib.metadata import entry_points
        return list(entry_points(group=ENTRY_POINT_GROUP))
    from importlib.metadata import entry_points
    return list(entry_points().get(ENTRY_POINT_GROUP, []))


def _disabled() -> set:
    raw = os.environ.get(DISABLE_ENV, "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def get_manager() -> pluggy.PluginManager:
    """The process-wide manager, loading entry points on first call."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            disabled = _disabled()
            seen = set()
            for ep in _entry_points():
                if ep.name in seen:
                    continue
                seen.add(ep.name)
                if ep.name in disabled or disabled & {"*", "all"}:
                    continue
                try:
                    pm.register(ep.load(), name=ep.name)
                except Exception as e:  # a broken plugin is reported and skipped
                    _failures.append((ep.name, f"{type(e).__name__}: {e}"))
            _manager = pm
        return _manager


def register(plugin: Any, name: Optional[str] = None) -> None:
    """Register a plugin object or module at run time (tests, notebooks)."""
    global _adapters
    get_manager().register(plugin, name=name)
    _adapters = None


def unregister(name: str) -> None:
    global _adapters
    pm = get_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _adapters = None


def reset() -> None:
    """Forget every loaded plugin (tests use this after changing the environment)."""
    global _manager, _adapters
    with _lock:
        _manager = None
        _adapters = None
        _failures.clear()


def load_failures() -> List[Tuple[str, str]]:
    """(entry-point name, error) for every plugin that failed to load."""
    get_manager()
    return list(_failures)


def adapters() -> Dict[str, Adapter]:
    """Every adapter contributed by a loaded plugin, by name."""
    global _adapters
    if _adapters is not None:
        return _adapters
    pm = get_manager()
    found: Dict[str, Adapter] = {}
    owner: Dict[str, str] = {}
    for impl in pm.hook.automux_adapters.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or "?"
        try:
            contributed = impl.function() or []
        except Exception as e:
            _failures.append((plugin_name, f"automux_adapters raised {type(e).__name__}: {e}"))
            continue
        for a in contributed:
            adapter = a() if isinstance(a, type) else a
            if not isinstance(adapter, Adapter) or not adapter.name:
                _failures.append((plugin_name, f"contributed {a!r}, which is not a named Adapter"))
                continue
            if adapter.name in found:
                raise AutomuxError(f"adapter name {adapter.name!r} is registered twice: by plugin "
                                   f"{owner[adapter.name]!r} and by {plugin_name!r}")
            found[adapter.name] = adapter
            owner[adapter.name] = plugin_name
    _adapters = dict(sorted(found.items()))
    return _adapters


def get_adapter(name: str) -> Adapter:
    """The adapter called ``name``; ``BackendNotFound`` names the known ones."""
    found = adapters()
    if name not in found:
        known = ", ".join(found) or "none"
        raise BackendNotFound(f"unknown backend {name!r}: the known backends are {known} (see `automux backends`)")
    return found[name]


def dataset_loaders() -> Dict[str, Callable[[str], Any]]:
    from .contract.datasets import BUILTIN_LOADERS

    loaders: Dict[str, Callable[[str], Any]] = dict(BUILTIN_LOADERS)
    for contributed in get_manager().hook.automux_dataset_loaders():
        loaders.update(contributed or {})
    return loaders


def fire(hook: str, **kwargs: Any) -> None:
    """Call a run-event hook; a plugin that raises is reported, never fatal to the run."""
    try:
        getattr(get_manager().hook, hook)(**kwargs)
    except Exception:
        sys.stderr.write(f"automux: a plugin failed in {hook}:\n{traceback.format_exc()}")
