"""Frames between automux and H2O: the column layout, upload / download, class-probability output, the model handle."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ...core.errors import SpecError
from .cluster import _SESSION, ensure_cluster

TARGET = "__target__"
FOLD = "__fold__"


def _frame_layout(X: pd.DataFrame) -> Dict[str, Any]:
    """How features become H2O columns: positional names ``x0..`` and enum / real types."""
    names = [f"x{i}" for i in range(X.shape[1])]
    types = {}
    for name, col in zip(names, X.columns):
        dtype = X[col].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype) \
            and not isinstance(dtype, pd.CategoricalDtype)
        types[name] = "real" if numeric else "enum"
    return {"features": [str(c) for c in X.columns], "names": names, "types": types}


def _features(X: pd.DataFrame, layout: Dict[str, Any]) -> pd.DataFrame:
    """``X`` as a plain frame with the layout's column names; enum columns as strings with NaN."""
    missing = [c for c in layout["features"] if c not in set(map(str, X.columns))]
    if missing:
        raise SpecError(f"the data lacks the model's feature columns: {', '.join(missing[:5])}")
    X = X.rename(columns=str)[layout["features"]]
    out = pd.DataFrame(index=range(len(X)))
    for name, col in zip(layout["names"], layout["features"]):
        values = X[col].reset_index(drop=True)
        if layout["types"][name] == "enum":
            values = values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v))
        else:
            values = values.astype("float64")
        out[name] = values
    return out


def _upload(frame: pd.DataFrame, types: Dict[str, str]) -> Any:
    import h2o
    return h2o.H2OFrame(frame, column_types=dict(types))


def _download(h2o_frame: Any) -> pd.DataFrame:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the "install polars for multi-thread" hint
        return h2o_frame.as_data_frame(use_pandas=True)


def _level(k: int) -> str:
    return f"c{k}"


def _output(pred: pd.DataFrame, task: str, n_classes: int) -> np.ndarray:
    """H2O prediction columns as automux predictions (probabilities in class-code order)."""
    if task == "regression":
        return pred["predict"].to_numpy(dtype=np.float64)
    out = np.zeros((len(pred), n_classes), dtype=np.float64)
    for k in range(n_classes):
        if _level(k) in pred.columns:
            out[:, k] = pred[_level(k)].to_numpy(dtype=np.float64)
    return out


class H2OModel:
    """A model on the connected cluster plus what automux needs to feed it and read it back.

    ``binary`` is a local copy of the model (``h2o.download_model``); with it the
    model is uploaded again when the cluster that held it is gone.
    """

    def __init__(self, model: Any, meta: Dict[str, Any], binary: Optional[Path] = None) -> None:
        self.model = model
        self.meta = meta
        self.binary = binary
        self.generation = _SESSION.generation

    def live(self) -> Any:
        """The model on the current cluster (uploading the local copy after a restart)."""
        import h2o

        ensure_cluster()
        if self.generation != _SESSION.generation:
            if self.binary is None or not Path(self.binary).exists():
                raise RuntimeError(f"the H2O cluster that held {self.meta.get('model_id')} is gone and "
                                   "no local copy was kept: load() the saved model again")
            self.model = h2o.upload_model(str(self.binary))
            self.generation = _SESSION.generation
        return self.model

    def __repr__(self) -> str:
        return f"H2OModel({self.meta.get('model_id')!r})"
