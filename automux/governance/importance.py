"""Permutation importance computed by the harness, the same way for every backend.

Import-light (numpy and the contract are imported on use), so the CLI can
read the defaults below without importing numpy.

For a stored run (status ok) :func:`compute`:

1. rebuilds the recorded experiment (the data must still have the recorded
   fingerprint; a run made from a DataFrame needs the same frame again as
   ``data``) and takes its hold-out rows and target;
2. keeps at most ``max_rows`` of those rows, and fewer where the permuted
   frame would exceed ``max_cells`` values (``rows * (1 + n_features *
   n_repeats) * n_features``; never fewer than ``MIN_ROWS``): a seeded sample
   without replacement, stated in the result as ``rows`` / ``holdout_rows`` /
   ``sampled``. The cost is one prediction of ``rows * (1 + n_features *
   n_repeats)`` rows;
3. builds one frame holding the unpermuted rows followed by, for every feature
   and every repeat, a copy whose column is permuted (``numpy.random.default_rng``
   seeded with ``derive_seed(spec.seed, "importance")`` unless a seed is given);
4. predicts that frame in ONE predict job through the stored-model path
   (:func:`automux.core.run.predict.predict`: the env that trained the model,
   isolated envs included), so no backend is treated differently;
5. scores every block with the spec's metric (:mod:`automux.core.experiment.metrics`).

The importance of a feature is the mean drop of the score over the repeats
(signed so that positive means the model got worse without the feature, for
metrics to maximise and to minimise alike), with the standard deviation of
the drops (``ddof=0``, as scikit-learn's ``permutation_importance``). When the
whole hold-out is used in its order, the unpermuted block's prediction hash
must equal the record's ``predictions_sha256`` (``baseline_matches_record``).

:func:`compute` stores the result in ``record.extra["importance"]`` (the record
is re-read just before saving, so other extras written meanwhile are kept) and
returns it; :func:`importance_lines` formats it for ``automux runs show``.
"""
from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..core.errors import AutomuxError, UserError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["DEFAULT_MAX_ROWS", "DEFAULT_REPEATS", "EXTRA_KEY", "ImportanceError", "PredictFailed", "compute", "importance", "importance_lines"]

DEFAULT_REPEATS = 5
#: Hold-out rows used at most (a seeded sample beyond this).
DEFAULT_MAX_ROWS = 2000
#: Values (rows x columns) the permuted frame may hold at most: about 160 MB as float64.
DEFAULT_MAX_CELLS = 20_000_000
#: The fewest hold-out rows :data:`DEFAULT_MAX_CELLS` can reduce the sample to.
MIN_ROWS = 50
#: Where the result lives in the run record.
EXTRA_KEY = "importance"
#: Features printed by :func:`importance_lines` before "... N more".
SHOW_TOP = 20


class ImportanceError(UserError, RuntimeError):
    """Importance cannot be computed for this run: its status is not ok."""


class PredictFailed(AutomuxError, RuntimeError):
    """The predict job of the permuted hold-out failed (a backend failure, not bad input)."""


def _holdout(record: Any, store: Any, data: Any) -> tuple[Any, np.ndarray]:
    """The recorded run's hold-out features and target (fingerprint-checked)."""
    import numpy as np

    from ..core.run.verify import experiment_from_record

    exp = experiment_from_record(record, store, data=data)
    idx = list(exp.split.holdout)
    return exp.dataset.X.iloc[idx].reset_index(drop=True), np.asarray(exp.dataset.y)[idx]


def row_limit(n_features: int, n_repeats: int, max_rows: int, max_cells: int) -> int:
    """The hold-out rows to use at most: ``max_rows``, fewer if the permuted frame would pass ``max_cells``."""
    per_row = (1 + n_features * n_repeats) * max(n_features, 1)
    return min(max_rows, max(MIN_ROWS, max_cells // per_row))


def _sample_rows(n: int, max_rows: int, rng: np.random.Generator) -> Optional[np.ndarray]:
    """Sorted positions of a sample of ``max_rows`` rows, or None when all ``n`` are kept."""
    import numpy as np

    if n <= max_rows:
        return None
    return np.sort(rng.choice(n, size=max_rows, replace=False))


def permuted_frame(X: Any, n_repeats: int, rng: np.random.Generator) -> Any:
    """``X`` followed by ``n_features * n_repeats`` copies, each with one column permuted.

    Block order: the unpermuted rows, then feature 0 repeats 0..R-1, feature 1 ...
    (the order :func:`_drops` reads the predictions back in).
    """
    import pandas as pd

    n = len(X)
    blocks = [X]
    for col in X.columns:
        for _ in range(n_repeats):
            copy = X.copy()
            # take() keeps the dtype, categories included
            copy[col] = X[col].take(rng.permutation(n)).reset_index(drop=True)
            blocks.append(copy)
    return pd.concat(blocks, ignore_index=True)


def _drops(pred: np.ndarray, y: np.ndarray, n_features: int, n_repeats: int, metric: Any) -> tuple[float, np.ndarray]:
    """The baseline score and the score drops, shape ``(n_features, n_repeats)``, positive = worse."""
    import numpy as np

    n = len(y)
    base = metric(y, pred[:n])
    drops = np.empty((n_features, n_repeats))
    for j in range(n_features):
        for r in range(n_repeats):
            start = n * (1 + j * n_repeats + r)
            s = metric(y, pred[start:start + n])
            drops[j, r] = (base - s) if metric.greater_is_better else (s - base)
    return float(base), drops


def compute(run_id: str, *, store: Any = None, data: Any = None, n_repeats: int = DEFAULT_REPEATS,
            max_rows: int = DEFAULT_MAX_ROWS, seed: Optional[int] = None, build: bool = True,
            save: bool = True, max_cells: int = DEFAULT_MAX_CELLS) -> Dict[str, Any]:
    """Permutation importance of run ``run_id`` on its hold-out; stored in the record unless ``save`` is False.

    Returns ``{method, metric, greater_is_better, baseline_score, n_repeats,
    seed, rows, holdout_rows, sampled, max_rows, max_cells, row_limit,
    baseline_matches_record, features:
    [{feature, mean, std, drops}] (largest mean first), predict: {job_dir,
    duration_s, env_matches, rows}, duration_s, created_utc}``.

    Raises:
        RunNotFound, DataError (data changed, or a DataFrame run without ``data``),
        ImportanceError (run not ok), SpecError (bad n_repeats / max_rows),
        PredictFailed (the predict job failed: its job dir says why).
    """
    import numpy as np

    from ..core.experiment.metrics import get_metric
    from ..core.experiment.seeds import derive_seed
    from ..core.errors import SpecError
    from ..core.run import jobfiles as jf
    from ..core.run.predict import predict as predict_run
    from ..core.run.store import RunStore

    if not isinstance(n_repeats, int) or n_repeats < 1:
        raise SpecError(f"--repeats {n_repeats!r}: give a positive integer")
    if not isinstance(max_rows, int) or max_rows < 2:
        raise SpecError(f"--max-rows {max_rows!r}: give an integer of at least 2")
    if seed is not None:
        from ..core.inputs import check_seed
        check_seed(seed)
    t0 = time.monotonic()
    the_store = store if isinstance(store, RunStore) else RunStore(store)
    record = the_store.load(run_id)
    if record.status != "ok":
        raise ImportanceError(f"run {run_id} has status {record.status}: importance needs a run whose status is ok")
    spec = record.spec
    seed = derive_seed(spec.seed, "importance") if seed is None else seed
    rng = np.random.default_rng(seed)
    X, y = _holdout(record, the_store, data)
    holdout_rows = len(X)
    limit = row_limit(X.shape[1], n_repeats, max_rows, max_cells)
    rows = _sample_rows(holdout_rows, limit, rng)
    if rows is not None:
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    big = permuted_frame(X, n_repeats, rng)
    out = predict_run(run_id, big, store=the_store, build=build)
    if out["status"] != "ok":
        raise PredictFailed(f"the predict job for run {run_id}'s importance failed: {out['error']} "
                              f"(see {out['job_dir']})")
    pred = jf.predictions_array(jf.read_arrow(Path(out["predictions_arrow"])), spec.task)
    metric = get_metric(spec.metric, spec.task)
    base, drops = _drops(pred, y, X.shape[1], n_repeats, metric)
    features = [{"feature": str(c), "mean": float(drops[j].mean()), "std": float(drops[j].std()),
                 "drops": [float(d) for d in drops[j]]} for j, c in enumerate(X.columns)]
    features.sort(key=lambda f: (-f["mean"], f["feature"]))
    result = {
        "method": "permutation", "metric": spec.metric, "greater_is_better": metric.greater_is_better,
        "baseline_score": base, "n_repeats": n_repeats, "seed": seed, "rows": len(X),
        "holdout_rows": int(holdout_rows), "sampled": rows is not None,
        "max_rows": max_rows, "max_cells": max_cells, "row_limit": limit,
        "baseline_matches_record": (None if rows is not None else
                                    jf.predictions_sha256(pred[:len(y)]) == record.predictions_sha256),
        "features": features,
        "predict": {"job_dir": out["job_dir"], "duration_s": out["duration_s"], "env_matches": out["env_matches"],
                    "rows": out["rows"]},
        "duration_s": time.monotonic() - t0,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if save:
        _save(the_store, run_id, result)
    return result


def _save(store: Any, run_id: str, result: Dict[str, Any]) -> None:
    """Put ``result`` into the stored record's extra, keeping every other field as stored now."""
    current = store.load(run_id)
    store.save(dataclasses.replace(current, extra=dict(current.extra, **{EXTRA_KEY: result})))


def importance(run_id: str, *, store: Any = None, data: Any = None, n_repeats: int = DEFAULT_REPEATS,
               max_rows: int = DEFAULT_MAX_ROWS, seed: Optional[int] = None, build: bool = True,
               save: bool = True, max_cells: int = DEFAULT_MAX_CELLS) -> Dict[str, Any]:
    """The public twin of ``automux explain RUN_ID``: see :func:`compute`."""
    return compute(run_id, store=store, data=data, n_repeats=n_repeats, max_rows=max_rows, seed=seed,
                   build=build, save=save, max_cells=max_cells)


def importance_lines(record: Any, top: int = SHOW_TOP) -> List[str]:
    """The stored importances of ``record`` as text lines for ``automux runs show``; [] when none.

    One header line (metric, rows, repeats, seed), then one line per feature,
    largest mean drop first, ``top`` at most and a line saying how many more.
    """
    imp = (record.extra or {}).get(EXTRA_KEY)
    if not imp:
        return []
    rows = f"{imp['rows']} of {imp['holdout_rows']} hold-out rows" if imp.get("sampled") else \
        f"{imp['rows']} hold-out rows"
    lines = [f"permutation importance: drop in {imp['metric']} (baseline {imp['baseline_score']:.5g}) on {rows}, "
             f"{imp['n_repeats']} repeats, seed {imp['seed']}"]
    feats = imp.get("features") or []
    width = max([len(f["feature"]) for f in feats[:top]] + [7])
    for f in feats[:top]:
        lines.append(f"  {f['feature']:{width}}  {f['mean']:+.5f} ± {f['std']:.5f}")
    if len(feats) > top:
        lines.append(f"  ... {len(feats) - top} more features (automux runs show --json)")
    return lines

