"""Every automux hook, in one place. Hooks are called with keyword arguments;
an implementation may accept any subset of them.

Mark implementations with ``automux.hookimpl``; register a plugin module through
the ``automux`` entry-point group (first-party adapters do exactly that).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .adapter import Adapter
    from .experiment.record import RunRecord
    from .experiment.spec import Candidate, Spec

PROJECT = "automux"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def automux_adapters() -> "Sequence[Adapter]":
    """Contribute adapters.

    Called once when the plugin manager loads. Return a list of ``Adapter``
    instances (or classes, which are instantiated with no arguments). Results of
    all plugins are gathered; two adapters with one name are an error that names
    both plugins. Must not import any backend library.
    """


@hookspec
def automux_dataset_loaders() -> "Dict[str, Callable[[str], Any]]":
    """Contribute data sources by prefix, e.g. ``{"openml": load}`` for ``openml:NAME``.

    Each loader takes the part after the colon and returns ``(DataFrame, default
    target)``. Called whenever a source string is resolved; all results are merged.
    """


@hookspec
def automux_run_started(run_id: str, backend: str, spec: "Spec") -> None:
    """A run is about to start its worker. Return value ignored."""


@hookspec
def automux_run_candidate(run_id: str, backend: str, candidate: "Candidate") -> None:
    """The worker reported a candidate (fired in the parent as candidates arrive)."""


@hookspec
def automux_run_finished(run_id: str, backend: str, spec: "Spec", record: "RunRecord", run_dir: str) -> None:
    """A run ended with status ``ok`` and its record is stored in ``run_dir`` (its directory in the run store:
    the model, the predictions; an ensemble run too)."""


@hookspec
def automux_run_failed(run_id: str, backend: str, spec: "Spec", record: "RunRecord", error: str,
                       run_dir: str) -> None:
    """A run ended failed / timeout / crashed; its record is stored in ``run_dir``.

    Gets the started hook's arguments plus the record, the error text and the run's directory.
    """


@hookspec
def automux_selector_rules() -> "Optional[List[Any]]":
    """Contribute selector rules (used by ``automux.select``); return a list or None."""
