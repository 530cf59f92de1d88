"""Write the selector's packaged evidence (automux/select/evidence.json) from committed bench results.

    python benchmarks/selector/pack_evidence.py [RESULTS_DIR_OR_CSV ...]   # default: benchmarks/results

The packaged file holds, per data set, its profile and each backend's mean normalised score: the
same table the selector builds from ./benchmarks/results, so `--backend auto` and `automux select`
choose the same wherever they are run from. Rerun it after new results are committed.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from automux.select import evidence


def main(argv: list) -> int:
    if argv:
        os.environ[evidence.RESULTS_ENV] = os.pathsep.join(argv)
    files = evidence.default_result_files()
    if not files:
        print("no results.csv found", file=sys.stderr)
        return 2
    root = Path.cwd()
    packed = evidence.pack(files)
    packed["files"] = [os.path.relpath(f, root) for f in packed["files"]]
    evidence.PACKAGED_EVIDENCE.write_text(json.dumps(packed, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{evidence.PACKAGED_EVIDENCE}: {len(packed['datasets'])} data sets from {len(files)} results files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
