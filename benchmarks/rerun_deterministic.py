"""Rerun random deterministic cells of committed benchmark results and compare their predictions.

A cell is *deterministic* when its record declared it so (``declared_deterministic`` in its
cell JSON: a count budget on a backend that claims determinism under one). Each chosen cell
is run again, with the code checked out now, into a scratch directory by the bench's own
``run_cell`` (same data, split, folds, seed, budget and options), and its
``predictions_sha256`` (the hash of the hold-out predictions) is compared with the
committed row's. Any difference is a reproducibility failure and is listed with both hashes.

    python benchmarks/rerun_deterministic.py benchmarks/results/realdata benchmarks/results/standard \
        --n 10 --seed 0 --out benchmarks/results/rerun_deterministic.md

Exit status 1 when a rerun differs or fails, 0 when all match.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List


def deterministic_cells(results_dirs: List[str]) -> List[Dict[str, Any]]:
    """Every committed backend cell (not an ensemble row) that declared itself deterministic, sorted by id."""
    out = []
    for d in results_dirs:
        for f in sorted(Path(d, "cells").glob("*.json")):
            j = json.loads(f.read_text())
            if j.get("declared_deterministic") is True and j["row"].get("status") == "ok" \
                    and j["row"].get("predictions_sha256"):
                out.append(dict(j, source=str(f)))
    return sorted(out, key=lambda j: j["cell"]["cell_id"])


def rerun(cell: Dict[str, Any]) -> Dict[str, Any]:
    """Run ``cell`` again in a scratch directory; the committed and the new hash side by side."""
    from automux.bench.cellrun import run_cell
    from automux.bench.datasets import ensure_loaders

    ensure_loaders()
    scratch = Path(tempfile.mkdtemp(prefix="rerun-cell-"))
    t0 = time.monotonic()
    try:
        row = run_cell(cell["cell"], scratch) or {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    old = cell["row"]
    return {"cell_id": cell["cell"]["cell_id"], "source": cell["source"], "framework": old["framework"],
            "data_set": old["task"], "constraint": old["constraint"], "fold": old["fold"],
            "committed_sha": old["predictions_sha256"], "rerun_sha": row.get("predictions_sha256"),
            "committed_app": old.get("app_version"), "status": row.get("status"),
            "same": row.get("predictions_sha256") == old["predictions_sha256"], "wall_s": time.monotonic() - t0}


def to_markdown(rows: List[Dict[str, Any]], command: str, commit: str, pool: int) -> str:
    same = sum(r["same"] for r in rows)
    lines = ["# Deterministic cells rerun", "",
             f"Made by `{command}` at commit `{commit}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"{len(rows)} cells drawn at random from the {pool} committed cells that declared themselves "
             "deterministic (count budgets on backends that claim determinism under one), each run again by the "
             "bench's `run_cell` in a scratch directory; `same` compares the hold-out predictions' SHA-256 "
             "with the committed row's.", "",
             f"**{same} of {len(rows)} reruns gave the committed predictions_sha256.**", "",
             "| cell | results | data set | framework | constraint | fold | committed sha | rerun sha | status | same "
             "| rerun s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cell_id']} | {Path(r['source']).parent.parent.name} | {r['data_set']} | {r['framework']} "
                     f"| {r['constraint']} | {r['fold']} | {r['committed_sha'][:12]} | {(r['rerun_sha'] or '-')[:12]} "
                     f"| {r['status']} | {'yes' if r['same'] else '**no**'} | {r['wall_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results directories (each with cells/)")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/rerun_deterministic.md")
    a = ap.parse_args(argv)
    pool = deterministic_cells(a.results)
    if not pool:
        print("no deterministic cells found", file=sys.stderr)
        return 2
    chosen = random.Random(a.seed).sample(pool, min(a.n, len(pool)))
    rows = []
    for c in chosen:
        rows.append(rerun(c))
        r = rows[-1]
        print(f"{r['data_set']} {r['framework']} {r['constraint']} fold {r['fold']}: "
              f"{'same' if r['same'] else 'DIFFERENT'} ({r['wall_s']:.1f}s)", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    command = "python benchmarks/rerun_deterministic.py " + " ".join(argv if argv is not None else sys.argv[1:])
    Path(a.out).write_text(to_markdown(rows, command, commit, len(pool)))
    Path(a.out).with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
