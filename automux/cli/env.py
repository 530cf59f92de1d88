"""``automux env build|list|remove``: isolated backend environments.

Import-light: argparse only at import; handlers import the library on use.
Handlers take ``(args, store)`` and return the exit code (0 ok, 2 bad input via ``UserError``).
"""
from __future__ import annotations

import argparse
from typing import Any, Tuple

from ._common import UsageError, emit as _emit, table as _table


def add_parser(sub: Any) -> None:
    """Register ``env`` (build / list / remove) on the CLI's subparsers."""
    p = sub.add_parser("env", help="isolated backend environments: build, list, remove")
    env_sub = p.add_subparsers(dest="env_command", parser_class=type(p))
    b = env_sub.add_parser("build", help="build (or find cached) the env a backend runs in")
    b.add_argument("name", help="env name (or a backend name), e.g. pycaret, autosklearn")
    b.add_argument("--force", action="store_true", help="rebuild from the same lock even when a complete env is cached")
    b.add_argument("--upgrade", action="store_true",
                   help="re-resolve the env's lock on purpose (newest versions the recipe allows), then build it")
    b.add_argument("--json", action="store_true")
    lk = env_sub.add_parser("lock", help="resolve an env's lock now (no build): saved as the local lock, which "
                            "wins over a packaged one; --out writes it only there, e.g. automux/envlocks/NAME.txt")
    lk.add_argument("name")
    lk.add_argument("--out", default=None, help="write the lock to this path only (no local lock is saved)")
    lk.add_argument("--json", action="store_true")
    lst = env_sub.add_parser("list", help="every env the backends declare, built or not, with lock hashes")
    lst.add_argument("--json", action="store_true")
    r = env_sub.add_parser("remove", help="delete every cached env of that name")
    r.add_argument("name")
    r.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_env)


def resolve(name: str) -> Tuple[Any, Any]:
    """(recipe, adapter) for an env name or a backend name.

    Raises:
        EnvError: ``main`` (nothing to build) or a name no adapter declares.
    """
    from ..core.env.errors import EnvError
    from ..core.env.recipe import MAIN, recipe_for
    from ..core.registry import adapters

    found = adapters()
    if name == MAIN:
        raise EnvError("main is automux's own environment: there is nothing to build "
                       "(install backends into it with pip install 'automux[main]')")
    for adapter in found.values():
        if adapter.environment.name == name:
            return recipe_for(adapter.environment), adapter
    if name in found and found[name].environment.name != MAIN:
        return recipe_for(found[name].environment), found[name]
    known = sorted({a.environment.name for a in found.values() if a.environment.name != MAIN})
    hint = f"the isolated envs are {', '.join(known)}" if known else "no backend declares an isolated env"
    if name in found:
        raise EnvError(f"backend {name!r} runs in the main env: there is nothing to build ({hint})")
    raise EnvError(f"unknown env {name!r}: {hint} (see `automux env list`)")


def cmd_env(a: argparse.Namespace, store: Any) -> int:
    from ..core.env import build, cache, handshake_check, table, worker_code

    if a.env_command == "build":
        recipe, adapter = resolve(a.name)
        built = build.build_env(recipe, force=a.force, upgrade=a.upgrade)
        plugin = worker_code.plugin_packages(adapter)
        worker = handshake_check.handshake(built, [type(adapter).__module__], plugin=plugin)
        row = dict(built.to_json(), handshake={k: worker.get(k) for k in ("automux_version", "source_sha256",
                                                                            "python", "sources")})
        if plugin:
            row["plugin"] = worker_code.plugin_distribution(adapter)
        if a.json:
            _emit(row)
        else:
            print(f"env {built.name}: {built.path}\n  Python {built.meta['python_version']}, "
                  f"{row['n_packages']} packages, fingerprint (lock hash) {built.fingerprint} from "
                  f"{built.meta.get('lock_path')}, built by {built.meta['builder']} in {built.meta['build_s']}s")
        return 0
    if a.env_command == "lock":
        recipe, _adapter = resolve(a.name)
        lock = build.resolve_lock(recipe, out=a.out)  # with --out: written there only, no local lock
        row = {"name": recipe.name, "key": recipe.key, "lock": lock.short, "lock_sha256": lock.sha256,
               "path": str(lock.path), "out": a.out, "n_packages": len(lock.pins())}
        if a.json:
            _emit(row)
        else:
            print(f"env {recipe.name}: lock {lock.short} ({row['n_packages']} packages) at {lock.path}"
                  + ("" if a.out else " (the local lock: it wins over a packaged one)"))
        return 0
    if a.env_command == "list":
        from ..core.registry import adapters

        rows = table.env_table(adapters())
        if a.json:
            _emit(rows)
        else:
            print(_table([[r["name"], r["status"], ",".join(r["backends"]) or "-", r.get("python_version") or
                           r["python_range"], r.get("lock") or "-", r.get("lock_source") or "-",
                           r["path"] or "-"] for r in rows],
                         ["env", "status", "backends", "python", "lock (fingerprint)", "lock from", "path"]))
        return 0
    if a.env_command == "remove":
        removed = cache.remove_env(a.name)
        if not removed:
            resolve(a.name)  # an unknown name is an error; a known but unbuilt one is not
        if a.json:
            _emit({"name": a.name, "removed": removed})
        else:
            print("\n".join(f"removed {p}" for p in removed) or f"env {a.name}: nothing cached to remove")
        return 0
    raise UsageError("env needs a subcommand: build, lock, list or remove")
