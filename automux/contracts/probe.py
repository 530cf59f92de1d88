"""``python -m automux.contracts.probe JOB_DIR OUT``: load a run's saved model, predict its hold-out.

Runs in the interpreter the worker used, in a fresh process, so that the
save/load check sees exactly what a later ``automux predict`` would. Imports on
Python 3.9 with the worker's light dependencies only.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

from ..core.run import jobfiles as jf
from ..core.run.worker import load_adapter, seed_everything


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.stderr.write("usage: python -m automux.contracts.probe JOB_DIR OUT\n")
        return 2
    job_dir, out = Path(argv[0]), Path(argv[1])
    job = jf.read_json(job_dir / jf.JOB)
    seed_everything(job["seeds"])
    adapter = load_adapter(job["adapter"])
    model = adapter.load(job_dir / jf.MODEL_DIR)
    pred = adapter.predict(model, jf.read_arrow(job_dir / jf.HOLDOUT))
    jf.write_arrow(jf.predictions_frame(pred, job["task"]), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
