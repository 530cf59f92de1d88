"""Re-validation of a candidate's Python file in a fresh interpreter, without automux or any AutoML backend.

Promotion (:mod:`automux.governance.promote`) and the conformance suite's rebuild
check both run a candidate's stand-alone source this way: the file's
``build_model()`` is fitted on the run's fixed folds and training rows, once per
seed, by ``python -I _revalidate.py JOB_DIR`` started through the launcher
(:func:`automux.core.run.launcher.run_worker`: its own process group, a hard
stop, the group ended after it). Here, below both, so neither imports the other.
"""
from __future__ import annotations

import json
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..experiment.prepare import Experiment
from ..rebuild_source import FORBIDDEN
from . import jobfiles as jf

#: The stand-alone harness (standard library and numpy only), run as ``python -I HARNESS JOB_DIR``.
HARNESS = Path(__file__).with_name("_revalidate.py")
DEFAULT_TIMEOUT_S = 900.0
#: Same interpreter, same libraries, same rows: the rebuild is expected to be
#: bitwise equal; these absorb summation-order noise only.
REPRODUCE_ATOL = 1e-6
REPRODUCE_RTOL = 1e-6

__all__ = ["FORBIDDEN", "HARNESS", "DEFAULT_TIMEOUT_S", "REPRODUCE_ATOL", "REPRODUCE_RTOL", "rebuild_refusal",
           "reproduces", "revalidate"]


def rebuild_refusal(adapter: Any, candidate: Any, task: str, columns: Dict[str, str]) -> Optional[str]:
    """The adapter's reason why ``candidate`` has no explicit rebuild, or None.

    The adapter declares it as ``rebuild_refusal``: either a class attribute (a
    string: no candidate of this backend is rebuilt, and why) or a method
    ``rebuild_refusal(candidate, task, columns) -> Optional[str]`` (per candidate).
    An adapter that gives no source and declares no reason is promoted on its own
    stored model (``rebuild: backend_model``, the rule for third-party adapters).
    """
    declared = getattr(adapter, "rebuild_refusal", None)
    if callable(declared):
        declared = declared(candidate, task, columns)
    return str(declared) if declared else None


def reproduces(rebuilt: float, recorded: float) -> bool:
    """True when a rebuilt score equals the recorded one within the summation-order tolerance."""
    return abs(rebuilt - recorded) <= REPRODUCE_ATOL + REPRODUCE_RTOL * abs(recorded)


def revalidate(code_path: Path, exp: Experiment, seeds: List[int],
               timeout_s: float = DEFAULT_TIMEOUT_S) -> Dict[str, Any]:
    """Fit the file's ``build_model()`` on the fixed folds and the training rows, once per seed.

    Runs in a fresh ``python -I`` with automux and the AutoML backends blocked.
    Returns ``{per_seed: [{seed, fold_scores, cv, holdout}], modules, seconds}``
    or ``{error: ...}`` when the file fails or overruns ``timeout_s``. An
    interrupt ends the harness's process group and is re-raised.
    """
    from ..experiment.metrics import get_metric
    from ..sklearn_kit import to_sklearn_frame
    from .launcher import run_worker

    ds, split = exp.dataset, exp.split
    metric = get_metric(exp.spec.metric, ds.task)
    train = np.asarray(split.train, dtype=np.int64)
    hold = np.asarray(split.holdout, dtype=np.int64)
    y, y_hold = ds.y[train], ds.y[hold]
    folds = split.fold_pairs()
    job = Path(tempfile.mkdtemp(prefix="automux-promote-"))
    try:
        with open(job / "data.pkl", "wb") as f:
            pickle.dump({"X": to_sklearn_frame(ds.X.iloc[train].reset_index(drop=True)), "y": y,
                         "X_holdout": to_sklearn_frame(ds.X.iloc[hold].reset_index(drop=True)), "folds": folds},
                        f, protocol=4)
        jf.write_json(job / jf.JOB, {"candidate": str(Path(code_path).resolve()), "task": ds.task,
                                     "n_classes": len(ds.classes), "seeds": seeds, "forbidden": list(FORBIDDEN)})
        t0 = time.monotonic()
        out = run_worker(job, seeds=exp.spec.seeds, deadline_s=timeout_s,
                         command=[sys.executable, "-I", str(HARNESS), str(job)])
        if out.interrupted is not None:
            raise out.interrupted
        if out.status == "timeout":
            return {"error": f"the rebuild overran {timeout_s:g}s and was killed"}
        text = (job / jf.LOG).read_text(encoding="utf-8", errors="replace")
        if out.returncode != 0 or not (job / "out.json").exists():
            last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or [f"exit {out.returncode}"]
            return {"error": f"the candidate file failed in a fresh interpreter: {last[0]}", "log": text[-4000:]}
        info = json.loads((job / "out.json").read_text(encoding="utf-8"))
        with np.load(job / "predictions.npz") as pred:
            per_seed = []
            for i, seed in enumerate(seeds):
                scores = [float(metric(y[valid], pred[f"fold_{i}_{k}"])) for k, (_, valid) in enumerate(folds)]
                holdout = float(metric(y_hold, pred[f"holdout_{i}"])) if len(hold) else None
                per_seed.append({"seed": seed, "fold_scores": scores, "cv": float(np.mean(scores)),
                                 "holdout": holdout})
        return {"per_seed": per_seed, "modules": info["modules"], "seconds": time.monotonic() - t0,
                "isolated": info.get("isolated")}
    finally:
        shutil.rmtree(job, ignore_errors=True)
