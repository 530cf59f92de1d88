"""An isolated env's recipe: what it is built from, and the key of its cache directory.

An adapter's ``environment`` (:class:`~automux.core.capabilities.Environment`) is
its recipe. ``main`` means automux's own interpreter; any other name, first- or
third-party, is always an isolated env. The recipe key is sha256(name, Python
range, requirements, automux's core requirements); every env is installed from
a lock (:mod:`automux.core.env.lock`) found by that key.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ..._version import __version__
from ..capabilities import Environment
from . import lock as locks
from .errors import EnvError
from .home import automux_home

MAIN = "main"
#: automux's own dependencies, when its distribution metadata cannot be read.
CORE_FALLBACK = ("pluggy>=1.3", "numpy>=1.21", "pandas>=1.3", "pyarrow>=10")


def core_requirements() -> Tuple[str, ...]:
    """automux's own (non-extra) requirements: every isolated env gets them too."""
    try:
        from importlib.metadata import requires
        reqs = requires("automux") or []
    except Exception:
        reqs = []
    core = tuple(sorted(r.strip() for r in reqs if "extra" not in r.partition(";")[2]))
    return core or CORE_FALLBACK


@dataclass(frozen=True)
class Recipe:
    """What an isolated env is built from; ``key`` identifies its cache directory."""

    name: str
    python: str
    requirements: Tuple[str, ...]
    core: Tuple[str, ...] = CORE_FALLBACK
    import_names: Tuple[str, ...] = ()
    automux_version: str = __version__

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "python": self.python, "requirements": list(self.requirements),
                "core": list(self.core), "import_names": list(self.import_names),
                "automux_version": self.automux_version}

    @property
    def key(self) -> str:
        """sha256 over what is resolved: name, Python range, requirements, core requirements.

        Not the automux version: automux is not installed into the env, so a
        release that keeps its core requirements keeps every committed lock.
        """
        body = {k: v for k, v in self.to_json().items() if k not in ("import_names", "automux_version")}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def lock(self) -> Optional["locks.Lock"]:
        """The lock this recipe installs from (local, else packaged), or None before the first build."""
        return locks.find_lock(automux_home(), self.name, self.key)

    def dir_name_for(self, lock: "locks.Lock") -> str:
        return f"{self.name}-{lock.short}"

    def describe(self) -> str:
        pins = ", ".join(self.requirements[:3]) + (", ..." if len(self.requirements) > 3 else "")
        return f"Python {self.python}; {pins}"


def recipe_for(environment: Environment) -> Recipe:
    """The recipe of an adapter's declared environment."""
    if not environment.name or environment.name == MAIN:
        raise EnvError("the main env is automux's own interpreter: there is nothing to build")
    return Recipe(name=environment.name, python=environment.python,
                  requirements=tuple(environment.requirements), core=core_requirements(),
                  import_names=tuple(environment.import_names))
