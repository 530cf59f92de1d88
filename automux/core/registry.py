"""The adapter registry: every adapter the loaded plugins contribute, by name.

A plugin whose ``automux_adapters`` raises, or that contributes something that
is not a named ``Adapter``, is reported and skipped. Two adapters with one name
are both reported (``duplicates()``, shown by ``automux backends``) with their
plugins and distributions; the name stays with a first-party adapter if one of
them is (else with the first plugin loaded), so no command fails because of it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from . import plugins
from .adapter import Adapter
from .errors import BackendNotFound

#: Distributions whose adapters are first-party.
FIRST_PARTY = "automux"

_cache: Optional[Tuple[int, Dict[str, Adapter], Dict[str, Dict[str, Any]], List[Dict[str, Any]]]] = None


def _load() -> Tuple[Dict[str, Adapter], Dict[str, Dict[str, Any]], List[Dict[str, Any]]]:
    global _cache
    plugins.get_manager()
    if _cache is not None and _cache[0] == plugins.generation:
        return _cache[1], _cache[2], _cache[3]
    found: Dict[str, Adapter] = {}
    where: Dict[str, Dict[str, Any]] = {}
    dupes: List[Dict[str, Any]] = []
    for plugin_name, contributed in plugins.call_each("automux_adapters"):
        for a in contributed or []:
            try:
                adapter = a() if isinstance(a, type) else a
            except Exception as e:
                plugins.record_failure(plugin_name, f"adapter {a!r} failed to instantiate: {type(e).__name__}: {e}")
                continue
            if not isinstance(adapter, Adapter) or not adapter.name:
                plugins.record_failure(plugin_name, f"contributed {a!r}, which is not a named Adapter")
                continue
            origin = dict(plugins.origin(plugin_name), plugin=plugin_name)
            if adapter.name in found:
                kept = where[adapter.name]
                if origin.get("distribution") == FIRST_PARTY and kept.get("distribution") != FIRST_PARTY:
                    found[adapter.name], where[adapter.name], origin, kept = adapter, origin, kept, origin
                dupes.append({"name": adapter.name, "kept": kept, "ignored": origin})
                plugins.record_failure(origin["plugin"], f"adapter name {adapter.name!r} is already registered by "
                                       f"plugin {kept['plugin']!r} (distribution {kept.get('distribution')}): "
                                       f"{origin['plugin']!r}'s adapter is ignored; rename one of them")
                continue
            found[adapter.name] = adapter
            where[adapter.name] = origin
    found = dict(sorted(found.items()))
    _cache = (plugins.generation, found, where, dupes)
    return found, where, dupes


def adapters() -> Dict[str, Adapter]:
    """Every adapter contributed by a loaded plugin, by name."""
    return _load()[0]


def get_adapter(name: str) -> Adapter:
    """The adapter called ``name``; ``BackendNotFound`` names the known ones."""
    found = adapters()
    if name not in found:
        known = ", ".join(found) or "none"
        raise BackendNotFound(f"unknown backend {name!r}: the known backends are {known} (see `automux backends`)")
    return found[name]


def origin_of(name: str) -> Dict[str, Any]:
    """The plugin, distribution and version adapter ``name`` came from."""
    return dict(_load()[1].get(name) or {})


def duplicates() -> List[Dict[str, Any]]:
    """Adapter names registered twice: ``[{name, kept: origin, ignored: origin}]``."""
    return list(_load()[2])


def describe() -> List[Dict[str, Any]]:
    """Every adapter: name, whether it can run here and why not, env, capabilities, origin; imports no backend."""
    out = []
    for name, adapter in adapters().items():
        reason = adapter.unavailable_reason()
        out.append({"name": name, "available": reason is None, "reason": reason,
                    "env": adapter.environment.to_json(), "capabilities": adapter.capabilities.to_json(),
                    "origin": origin_of(name)})
    return out
