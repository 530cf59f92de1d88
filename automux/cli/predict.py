"""``automux predict RUN_ID --data SRC``: predictions from a stored model, in the env that trained it.

Exit codes: 0 ok, 1 the prediction failed (the job's log says why), 2 bad input.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict

from ._common import add_store, emit as _emit


def add_parser(sub: Any) -> None:
    """Register ``predict``."""
    q = sub.add_parser("predict", help="predictions from a stored model, in the env that trained it")
    q.add_argument("run_id")
    q.add_argument("--data", required=True, help="CSV / Parquet path or bundled source (sklearn:breast_cancer)")
    q.add_argument("--out", help="also write the predictions CSV here")
    q.add_argument("--no-build", action="store_true", help="refuse to build a missing env")
    q.add_argument("--json", action="store_true", help="print JSON for scripts")
    q.add_argument("--timeout", type=float, help="wall cap of the prediction job in seconds (default 3600)")
    add_store(q)
    q.set_defaults(handler=cmd_predict)


def cmd_predict(a: argparse.Namespace, store: Any) -> int:
    from ..predicting import predict  # the one dispatch: an ensemble predicts through its members

    out: Dict[str, Any] = predict(a.run_id, a.data, store=store, build=not a.no_build, out=a.out, timeout_s=a.timeout)
    if a.json:
        _emit(out)
    elif out["status"] == "ok":
        print(f"predictions: {out['predictions']}\nsha256:      {out['predictions_sha256']}\n"
              f"rows:        {out['rows']}\nenv:         {out['env'].get('name')} "
              f"(fingerprint {out['env'].get('fingerprint') or '-'}"
              f"{'' if out['env_matches'] else ', NOT the env that trained the model'})")
    else:
        print(f"prediction failed: {out['error']} (log: {out['job_dir']}/worker.log)")
    if out.get("unseen_categories") and not a.json:
        sys.stderr.write("automux: warning: categories training never saw, predicted as missing: "
                         + ", ".join(f"{c} ({n} rows)" for c, n in out["unseen_categories"].items()) + "\n")
    if not out["env_matches"] and not a.json:
        sys.stderr.write("automux: warning: the env differs from the one that trained this model\n")
    return 0 if out["status"] == "ok" else 1
