"""The plugin manager: discovery through the ``automux`` entry-point group, and safe hook calls.

First-party adapters register through the same group as third-party ones. A
plugin that fails to load is reported (``load_failures()``) and skipped, never
fatal; so is one whose hook implementations are misspelled (pluggy's
``check_pending``). ``AUTOMUX_DISABLE_PLUGINS`` is a comma list of entry-point
names to skip, or ``*`` / ``all`` for every one. ``AUTOMUX_TRACE_PLUGINS=1``
prints every hook call with the plugin it reaches to stderr. Loading happens on
first use, never on import.

Every hook implementation is called on its own (:func:`call_each`): one plugin
that raises is logged with its name and recorded in ``load_failures()``, and the
others still run. The adapter registry on top of this is :mod:`automux.core.registry`.
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "automux"
DISABLE_ENV = "AUTOMUX_DISABLE_PLUGINS"
TRACE_ENV = "AUTOMUX_TRACE_PLUGINS"

_lock = threading.RLock()
_manager: Optional[pluggy.PluginManager] = None
_failures: List[Tuple[str, str]] = []
#: plugin name -> {"distribution", "version", "entry_point"} for entry-point plugins
_origins: Dict[str, Dict[str, Optional[str]]] = {}
#: Bumped whenever the set of plugins changes: caches built on the manager compare it.
generation = 0


def _entry_points() -> List[Any]:
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        return list(entry_points(group=ENTRY_POINT_GROUP))
    return list(entry_points().get(ENTRY_POINT_GROUP, []))


def _disabled() -> set:
    raw = os.environ.get(DISABLE_ENV, "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def _origin(ep: Any) -> Dict[str, Optional[str]]:
    dist = getattr(ep, "dist", None)
    return {"distribution": getattr(dist, "name", None) if dist else None,
            "version": getattr(dist, "version", None) if dist else None, "entry_point": ep.value}


def _trace(pm: pluggy.PluginManager) -> None:
    def before(hook_name: str, impls: Any, kwargs: Any) -> None:
        names = ", ".join(pm.get_name(i.plugin) or "?" for i in impls)
        sys.stderr.write(f"automux: plugin trace: {hook_name}({', '.join(sorted(kwargs))}) -> {names}\n")

    def after(outcome: Any, hook_name: str, impls: Any, kwargs: Any) -> None:
        pass

    pm.add_hookcall_monitoring(before, after)


def get_manager() -> pluggy.PluginManager:
    """The process-wide manager, loading entry points on first call."""
    global _manager, generation
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            disabled = _disabled()
            for ep in _entry_points():
                if ep.name in disabled or disabled & {"*", "all"}:
                    continue
                origin = _origin(ep)
                name = ep.name
                if pm.has_plugin(name):  # two distributions use one entry-point name: keep both, report it
                    first = _origins.get(name, {}).get("distribution")
                    name = f"{ep.name}@{origin['distribution']}"
                    _failures.append((name, f"entry point name {ep.name!r} is also used by distribution "
                                            f"{first!r}: loaded under the name {name!r}"))
                try:
                    plugin = ep.load()
                    if pm.is_registered(plugin):
                        continue  # the same module registered twice (e.g. an editable install seen twice)
                    pm.register(plugin, name=name)
                    _origins[name] = origin
                except Exception as e:  # a broken plugin is reported and skipped
                    _failures.append((name, f"{type(e).__name__}: {e}"))
            _check_pending(pm)
            if os.environ.get(TRACE_ENV):
                _trace(pm)
            _manager = pm
            generation += 1
        return _manager


def _check_pending(pm: pluggy.PluginManager) -> None:
    """Report (and unregister) plugins with a hook implementation no hookspec knows (a misspelled hook)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        name = pm.get_name(e.plugin) or "?"
        _failures.append((name, f"unknown hook implementation: {e} (see automux.core.hookspecs for the hooks)"))
        pm.unregister(e.plugin)
        _check_pending(pm)


def register(plugin: Any, name: Optional[str] = None) -> None:
    """Register a plugin object or module at run time (tests, notebooks); misspelled hooks are refused.

    Raises:
        pluggy.PluginValidationError: a hook implementation that no hookspec knows.
    """
    global generation
    pm = get_manager()
    pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        pm.unregister(plugin)
        raise
    generation += 1


def unregister(name: str) -> None:
    global generation
    pm = get_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    generation += 1


def reset() -> None:
    """Forget every loaded plugin (tests use this after changing the environment)."""
    global _manager, generation
    with _lock:
        _manager = None
        _failures.clear()
        _origins.clear()
        generation += 1


def load_failures() -> List[Tuple[str, str]]:
    """(plugin name, error) for every plugin that failed to load or raised in a hook."""
    get_manager()
    return list(_failures)


def record_failure(plugin: str, error: str) -> None:
    """Note a plugin's failure (shown by ``automux backends``)."""
    with _lock:
        if (plugin, error) not in _failures:
            _failures.append((plugin, error))


def origin(plugin_name: str) -> Dict[str, Optional[str]]:
    """The distribution, version and entry point a plugin came from (empty values for run-time registrations)."""
    get_manager()
    return dict(_origins.get(plugin_name) or {"distribution": None, "version": None, "entry_point": None})


def call_each(hook: str, **kwargs: Any) -> List[Tuple[str, Any]]:
    """Call every implementation of ``hook`` on its own: ``[(plugin name, result)]`` of those that returned.

    Each call goes through pluggy's hook caller, restricted to that one plugin
    (``subset_hook_caller``), so pluggy's argument handling and its call
    monitoring (``AUTOMUX_TRACE_PLUGINS=1``) see every call. An implementation
    that raises is logged to stderr with its plugin's name, recorded
    (``load_failures()``), and skipped; the others still run.
    """
    pm = get_manager()
    impls = getattr(pm.hook, hook).get_hookimpls()
    plugins = [i.plugin for i in impls]
    out: List[Tuple[str, Any]] = []
    for impl in reversed(impls):  # pluggy's own order: last registered first
        name = pm.get_name(impl.plugin) or "?"
        alone = pm.subset_hook_caller(hook, remove_plugins=[p for p in plugins if p is not impl.plugin])
        try:
            results = alone(**kwargs)
        except Exception as e:
            sys.stderr.write(f"automux: plugin {name!r} failed in {hook}: {type(e).__name__}: {e}\n"
                             f"{traceback.format_exc()}")
            record_failure(name, f"{hook} raised {type(e).__name__}: {e}")
            continue
        out.append((name, results[0] if results else None))
    return out


def fire(hook: str, **kwargs: Any) -> None:
    """Call a run-event hook; a plugin that raises is reported, never fatal to the run or to other plugins."""
    call_each(hook, **kwargs)


def dataset_loaders() -> Dict[str, Callable[[str], Any]]:
    """Data sources contributed by plugins, by prefix (``automux.core.experiment.datasets`` adds the built-in ones)."""
    loaders: Dict[str, Callable[[str], Any]] = {}
    for _name, contributed in call_each("automux_dataset_loaders"):
        loaders.update(contributed or {})
    return loaders
