"""Write the selector's packaged evidence (automux/select/evidence.json) from committed bench results.

    python benchmarks/selector/pack_evidence.py [RESULTS_DIR_OR_CSV ...]   # default: benchmarks/results

The packaged file holds, per data set, its profile and each backend's mean normalised score: the
same table the selector builds from ./benchmarks/results, so `--backend auto` and `automux select`
choose the same wherever they are run from; and automux/select/constraint_table.json, every bench's
"which tool for which constraint" table (written by `automux report`), which the selector cites.
Rerun it after new results are committed (and reported).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from automux.select import constraint_evidence, evidence


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
    tables = []
    for f in files:  # each bench's "which tool for which constraint" table, made by `automux report`
        table = Path(f).with_name(constraint_evidence.PACKAGED_TABLE.name)
        if table.exists():
            body = json.loads(table.read_text(encoding="utf-8"))
            tables.append(dict(body, **{"from": os.path.relpath(table.parent, root)}))
    constraint_evidence.PACKAGED_TABLE.write_text(json.dumps({"tables": tables}, indent=1, sort_keys=True) + "\n",
                                                  encoding="utf-8")
    print(f"{constraint_evidence.PACKAGED_TABLE}: {len(tables)} constraint tables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
