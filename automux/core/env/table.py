"""``automux env list``'s table: every isolated recipe the adapters declare (built or not), then stale envs."""
from __future__ import annotations

from typing import Any, Dict, List

from . import lock as locks
from .cache import built_envs, find_built
from .recipe import MAIN, Recipe, recipe_for


def env_table(adapters: Dict[str, Any]) -> List[Dict[str, Any]]:
    """``env list``: every isolated recipe the adapters declare (built or not), then stale cached envs."""
    recipes: Dict[str, Recipe] = {}
    users: Dict[str, List[str]] = {}
    for name, adapter in adapters.items():
        environment = adapter.environment
        if environment.name == MAIN:
            continue
        recipes.setdefault(environment.name, recipe_for(environment))
        users.setdefault(environment.name, []).append(name)
    rows: List[Dict[str, Any]] = []
    current_keys = set()
    for env_name, recipe in sorted(recipes.items()):
        lock = recipe.lock()
        found = find_built(recipe)
        current_keys.add(found.path.name if found else "")
        row: Dict[str, Any] = {"name": env_name, "backends": users[env_name], "status": "built" if found else
                               "missing", "current": True, "python_range": recipe.python,
                               "requirements": list(recipe.requirements), "key": recipe.key,
                               "fingerprint": found.fingerprint if found else None,
                               "lock": lock.short if lock else None, "lock_sha256": lock.sha256 if lock else None,
                               "lock_source": lock.source if lock else None,
                               "lock_path": str(lock.path) if lock else None,
                               "packaged_lock": locks.packaged_lock_state(recipe.name, recipe.key),
                               "path": str(found.path) if found else None}
        if found:
            row.update({k: found.meta.get(k) for k in ("python_version", "builder", "built_utc", "build_s",
                                                        "automux_version", "interpreter")})
            row["n_packages"] = len(found.meta.get("packages", {}))
        rows.append(row)
    for env in built_envs():
        if env.path.name in current_keys:
            continue
        rows.append({"name": env.name, "backends": users.get(env.name, []), "status": "stale", "current": False,
                     "python_range": env.meta.get("python"), "requirements": env.meta.get("requirements"),
                     "key": env.key, "fingerprint": env.fingerprint, "lock_sha256": env.meta.get("lock_sha256"),
                     "lock": env.fingerprint, "path": str(env.path),
                     "python_version": env.meta.get("python_version"), "builder": env.meta.get("builder"),
                     "built_utc": env.meta.get("built_utc"), "build_s": env.meta.get("build_s"),
                     "automux_version": env.meta.get("automux_version"), "interpreter": env.meta.get("interpreter"),
                     "n_packages": len(env.meta.get("packages", {}))})
    return rows
