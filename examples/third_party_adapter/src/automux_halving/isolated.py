"""The ``sklearn_halving_iso`` adapter: the same search, in its own isolated env with an older scikit-learn.

It shows a third-party backend whose dependencies clash with automux's main
env (here scikit-learn 1.5.2 where the main env has a newer one). Declaring an
``Environment`` whose ``name`` is not ``main`` is all it takes:

* ``automux env build halving-iso`` (or the first run) resolves the recipe into
  a lock under ``$AUTOMUX_HOME/locks`` and builds the env from it;
* the worker runs in that env and imports this package from where the parent
  imports it (automux puts its top-level package on the worker's path; the
  handshake checks that both sides hash to the same source). So the recipe
  lists only what the *backend* needs, not ``automux-halving`` itself, and this
  module must import on every Python the range admits (3.9 included);
* runs, ``predict``, ``promote`` and ``automux contracts`` use the env by
  themselves, and every record says which env (``env.automux_env``: name, lock
  hash as fingerprint, plugin distribution and source hash).
"""
from __future__ import annotations

from typing import List

from automux import Adapter, Environment, SearchResult, SearchTask, hookimpl

from .adapter import HalvingAdapter

#: The backend's pins, measured: this scikit-learn has HalvingRandomSearchCV and runs on Python 3.9-3.12.
REQUIREMENTS = ("scikit-learn==1.5.2", "scipy==1.13.1", "joblib==1.4.2", "threadpoolctl==3.5.0")


class IsolatedHalvingAdapter(HalvingAdapter):
    """``sklearn_halving`` in the ``halving-iso`` env; the record's info names the scikit-learn it ran."""

    name = "sklearn_halving_iso"
    environment = Environment(name="halving-iso", python=">=3.9,<3.13", requirements=REQUIREMENTS,
                              import_names=("sklearn",))

    def search(self, task: SearchTask) -> SearchResult:
        import sklearn

        result = super().search(task)
        result.info["sklearn_version"] = sklearn.__version__
        return result


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [IsolatedHalvingAdapter()]
