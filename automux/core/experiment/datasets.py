"""Bundled datasets that ship inside installed packages (never downloaded).

A source string ``PREFIX:NAME`` is looked up here; plugins can add prefixes
through the ``automux_dataset_loaders`` hook.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import pandas as pd

from ..errors import DataError

Loader = Callable[[str], Tuple[pd.DataFrame, str]]

SKLEARN_DATASETS = ("breast_cancer", "iris", "wine", "diabetes", "digits")


def load_sklearn(name: str) -> Tuple[pd.DataFrame, str]:
    """``sklearn:NAME``: a scikit-learn bundled dataset as a frame with a ``target`` column."""
    if name not in SKLEARN_DATASETS:
        raise DataError(f"unknown dataset sklearn:{name}: choose one of "
                        + ", ".join(f"sklearn:{n}" for n in SKLEARN_DATASETS))
    try:
        from sklearn import datasets
    except ImportError as e:
        raise DataError("sklearn: datasets need scikit-learn: pip install 'automux[sklearn]'") from e
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    return frame, "target"


def load_palmerpenguins(name: str) -> Tuple[pd.DataFrame, str]:
    """``palmerpenguins:penguins``: the penguins data shipped by the palmerpenguins package."""
    try:
        import palmerpenguins
    except ImportError as e:
        raise DataError("palmerpenguins: datasets need the package: pip install palmerpenguins") from e
    if name not in ("penguins", ""):
        raise DataError(f"unknown dataset palmerpenguins:{name}: use palmerpenguins:penguins")
    return palmerpenguins.load_penguins(), "species"


BUILTIN_LOADERS: Dict[str, Loader] = {
    "sklearn": load_sklearn,
    "palmerpenguins": load_palmerpenguins,
}


def all_loaders() -> Dict[str, Callable[[str], Tuple[pd.DataFrame, str]]]:
    """Every data source by prefix: the bundled ones above, then those plugins contribute."""
    from ..plugins import dataset_loaders

    return dict(BUILTIN_LOADERS, **dataset_loaders())
