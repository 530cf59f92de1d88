"""The bench's ``ensemble`` row: a cross-backend ensemble per (data set, fold, seed, constraint, repeat).

With ``ensemble: true`` in the suite, once every backend cell of one group has
finished, :func:`ensemble_cells` builds the greedy ensemble selection of
:mod:`automux.governance.ensemble` over that group's ok runs (they share one
spec: same data, split, folds, metric, seed and budget) from their stored
out-of-fold predictions, scores it on the same hold-out, stores it as a run
under ``OUT/runs`` and writes its row as one more cell, framework
``ensemble``. The report then ranks it beside the backends.

An ensemble cell's id is taken over its group's backend cell ids and the
ensemble size, so it is built once and never rebuilt on resume; adding a
backend to the suite makes a new group and a new ensemble. A group whose
members cannot be ensembled (fewer than two ok runs with out-of-fold
predictions) gets a failed ``ensemble`` row with the reason, counted like any
failure; a group whose members' runs are not in ``OUT/runs`` (cells copied
from another directory) gets no row and is named in the summary.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..core.experiment.spec import canonical_json, sha256_text
from .cells import Cell
from .results import RUNS_DIR, failed_row, read_cells, row_from_record, write_cell
from .suite import BackendRef

ENSEMBLE_FRAMEWORK = "ensemble"
ENSEMBLE_SCHEMA = 1


def group_key(cell: Cell) -> Tuple[Any, ...]:
    """What one ensemble is over: everything of a cell's id except the backend."""
    ident = cell.identity()
    ident.pop("backend")
    return (canonical_json(ident),)


def groups(cells: Sequence[Cell]) -> List[List[Cell]]:
    """The suite's cells grouped by :func:`group_key`, in the grid's order; only groups of 2+ backends."""
    by: Dict[Tuple[Any, ...], List[Cell]] = {}
    for c in cells:
        by.setdefault(group_key(c), []).append(c)
    return [g for g in by.values() if len(g) >= 2]


def ensemble_cell_id(group: Sequence[Cell], size: int) -> str:
    """Stable id of a group's ensemble cell (its backend cells' ids and the ensemble size)."""
    body = {"schema": ENSEMBLE_SCHEMA, "ensemble": sorted(c.cell_id for c in group), "size": int(size)}
    return sha256_text(canonical_json(body))[:16]


def ensemble_cell_json(group: Sequence[Cell], size: int) -> Dict[str, Any]:
    """The cell JSON of a group's ensemble: its first cell's, with backend ``ensemble`` and the members."""
    first = group[0].to_json()
    first["cell_id"] = ensemble_cell_id(group, size)
    first["backend"] = {"name": ENSEMBLE_FRAMEWORK, "options": {"size": int(size)}, "label": ENSEMBLE_FRAMEWORK}
    first["members"] = [c.cell_id for c in group]
    first["member_backends"] = [c.backend.framework for c in group]
    return first


class _EnsembleCell:
    """What the row builders read of a cell (``base_row``): the group's first cell, renamed."""

    def __init__(self, group: Sequence[Cell], size: int) -> None:
        self._first = replace(group[0], backend=BackendRef(name=ENSEMBLE_FRAMEWORK, options={}))
        self.cell_id = ensemble_cell_id(group, size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._first, name)


def _members(group: Sequence[Cell], finished: Dict[str, Dict[str, Any]]) -> Tuple[List[str], List[str]]:
    """(run ids of the ok members, why the others are out)."""
    ids, out = [], []
    for c in group:
        row = finished[c.cell_id]["row"]
        if row.get("status") == "ok" and row.get("run_id"):
            ids.append(str(row["run_id"]))
        else:
            out.append(f"{c.backend.framework}: {row.get('status')}")
    return ids, out


def _framework_of_run(group: Sequence[Cell], finished: Dict[str, Dict[str, Any]], run_id: str) -> str:
    """The framework (results.csv's name) of the group's cell whose run is ``run_id``."""
    return next((c.backend.framework for c in group if finished[c.cell_id]["row"].get("run_id") == run_id), "")


def cv_best_from_cells(cells: Dict[str, Dict[str, Any]]) -> Dict[str, str]:
    """Ensemble cell id -> its CV-chosen best member's framework, from the cells' ``best_member``.

    For results written before the ``cv_best`` column existed; a cell without ``best_member``
    (a failed ensemble) or whose member cells are not in ``cells`` is left out.
    """
    out: Dict[str, str] = {}
    for cid, body in cells.items():
        best = (body.get("best_member") or {}).get("run_id")
        members = body["cell"].get("members") or []
        labels = body["cell"].get("member_backends") or []
        for member, label in zip(members, labels):
            if best and (cells.get(member) or {}).get("row", {}).get("run_id") == best:
                out[cid] = label
    return out


def build_group(group: Sequence[Cell], out_dir: Path, finished: Dict[str, Dict[str, Any]], size: int,
                mode: str = "local") -> Optional[Dict[str, Any]]:
    """Build and write one group's ensemble cell; returns its row, or None when its runs are not here."""
    from ..core.errors import UserError
    from ..core.run.store import RunStore
    from ..governance.ensemble import EnsembleError, build_ensemble
    from .datasets import ensure_loaders

    t0 = time.monotonic()
    store = RunStore(out_dir / RUNS_DIR)
    cell = _EnsembleCell(group, size)
    run_ids, left_out = _members(group, finished)
    if any(not (store.root / rid).is_dir() for rid in run_ids):
        return None
    extra: Dict[str, Any] = {"members": run_ids, "left_out": left_out}
    ds = group[0].dataset
    try:
        usable = []
        for rid in run_ids:
            oof = (store.load(rid).extra or {}).get("oof") or {}
            if oof.get("available"):
                usable.append(rid)
            else:
                left_out.append(f"{rid}: no out-of-fold predictions ({oof.get('reason') or 'not recorded'})")
        if len(usable) < 2:
            raise EnsembleError(f"fewer than two members with out-of-fold predictions ({len(usable)}); "
                                + "; ".join(left_out))
        ensure_loaders()  # the members' spec names the source (and its drops): build_ensemble reloads it
        record = build_ensemble(usable, store=store, size=size, extra={"bench_cell": cell.cell_id})
        row = row_from_record(cell, record, mode)
        row["version"] = f"caruana-{int(size)}"
        info = record.extra["ensemble"]
        row["params"] = canonical_json({m["backend"]: round(float(m["weight"]), 6) for m in info["members"]})
        extra["weights"] = {m["backend"]: m["weight"] for m in info["members"]}
        extra["oof_score"] = info["oof_score"]
        extra["best_member"] = info["best_member"]
        row["cv_best"] = _framework_of_run(group, finished, info["best_member"]["run_id"])
    except UserError as e:
        row = failed_row(cell, mode, f"{type(e).__name__}: {e}", task=ds.task, metric=ds.metric)
    except Exception as e:  # a bug must not stop the bench: a failed row with its traceback
        row = failed_row(cell, mode, f"{type(e).__name__}: {e}", task=ds.task, metric=ds.metric)
        extra["traceback"] = traceback.format_exc()
    extra["cell_wall_s"] = time.monotonic() - t0
    if not row.get("metric"):  # a failed ensemble is scored like its members: take their metric column
        row["type"] = next((finished[c.cell_id]["row"].get("type") for c in group), row.get("type"))
        row["metric"] = next((finished[c.cell_id]["row"]["metric"] for c in group
                              if finished[c.cell_id]["row"].get("metric")), "")
    write_cell(out_dir, ensemble_cell_json(group, size), row, extra)
    return row


def ensemble_cells(cells: Sequence[Cell], out_dir: Path, size: int,
                   on_done: Callable[[str, Optional[Dict[str, Any]]], None] = lambda desc, row: None
                   ) -> Dict[str, Any]:
    """Build every due ensemble cell of the grid; returns ``{built, waiting, no_runs}``.

    ``waiting``: groups with a backend cell still to run; ``no_runs``: groups whose
    members' runs are not under ``OUT/runs`` (described, no row written).
    """
    finished = read_cells(out_dir)
    built, waiting, no_runs = 0, 0, []
    for group in groups(cells):
        if ensemble_cell_id(group, size) in finished:
            continue
        if any(c.cell_id not in finished for c in group):
            waiting += 1
            continue
        desc = (f"{group[0].dataset.name} fold {group[0].fold} seed {group[0].seed} {ENSEMBLE_FRAMEWORK} "
                f"{group[0].constraint.name}")
        row = build_group(group, out_dir, finished, size)
        if row is None:
            no_runs.append(desc)
            continue
        built += 1
        on_done(desc, row)
    return {"built": built, "waiting": waiting, "no_runs": no_runs}
