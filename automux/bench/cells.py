"""The grid: one cell per dataset x fold x seed x backend x constraint x repeat, with a stable id.

A cell's id is the sha256 of everything that decides its outcome (data set
source / target / task / metric, outer fold, CV folds, hold-out share, split
seed, master seed, backend and its options, the constraint's budget, repeat
index), so the same cell in a later run of the same or an edited suite is
recognised and never rerun; changing any of those makes a new cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

from ..core.experiment.spec import canonical_json, sha256_text
from .suite import BackendRef, Constraint, DatasetRef, Suite

CELL_SCHEMA = 1


@dataclass(frozen=True)
class Cell:
    """One run of the grid; JSON-serialisable so any executor can ship it."""

    dataset: DatasetRef
    fold: int
    seed: int
    backend: BackendRef
    constraint: Constraint
    repeat: int
    cv_folds: int
    test_size: float
    split_seed: int

    def identity(self) -> Dict[str, Any]:
        """What the id is taken over (labels and names do not count, budgets do)."""
        d = self.dataset
        data = {"source": d.source, "target": d.target, "task": d.task, "metric": d.metric}
        if getattr(d, "drop", ()):  # only when used: cells of data sets without drops keep their ids
            data["drop"] = sorted(d.drop)
        if getattr(d, "drop_missing_target", False):
            data["drop_missing_target"] = True
        return {"schema": CELL_SCHEMA,
                "dataset": data,
                "fold": self.fold, "seed": self.seed, "repeat": self.repeat, "cv_folds": self.cv_folds,
                "test_size": self.test_size, "split_seed": self.split_seed,
                "backend": {"name": self.backend.name, "options": self.backend.options},
                "budget": self.constraint.budget_json()}

    @property
    def cell_id(self) -> str:
        return sha256_text(canonical_json(self.identity()))[:16]

    def describe(self) -> str:
        rep = f" repeat {self.repeat}" if self.repeat else ""
        return (f"{self.dataset.name} fold {self.fold} seed {self.seed} {self.backend.framework} "
                f"{self.constraint.name}{rep}")

    def to_json(self) -> Dict[str, Any]:
        return {"cell_id": self.cell_id, "dataset": self.dataset.to_json(), "fold": self.fold, "seed": self.seed,
                "backend": self.backend.to_json(), "constraint": self.constraint.to_json(), "repeat": self.repeat,
                "cv_folds": self.cv_folds, "test_size": self.test_size, "split_seed": self.split_seed}

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Cell":
        b = d["backend"]
        label = b.get("label") or ""
        ds = dict(d["dataset"])
        if "drop" in ds:
            ds["drop"] = tuple(ds["drop"])
        return cls(dataset=DatasetRef(**ds), fold=int(d["fold"]), seed=int(d["seed"]),
                   backend=BackendRef(name=b["name"], options=dict(b.get("options") or {}),
                                      label="" if label == b["name"] else label),
                   constraint=Constraint(**d["constraint"]), repeat=int(d["repeat"]),
                   cv_folds=int(d["cv_folds"]), test_size=float(d["test_size"]),
                   split_seed=int(d["split_seed"]))


def expand(suite: Suite) -> List[Cell]:
    """Every cell of the suite, in a stable order: repeat, constraint, fold, seed, dataset, backend.

    Repeat 0 of every cell comes before any repeat, and all backends of one
    (dataset, fold, seed) come together, so a partial run is balanced across
    backends as early as possible.
    """
    cells: List[Cell] = []
    max_rep = max(suite.repeats_for(c) for c in suite.constraints)
    for repeat in range(max_rep):
        for constraint in suite.constraints:
            if repeat >= suite.repeats_for(constraint):
                continue
            for fold in range(suite.folds):
                for seed in suite.seeds:
                    for dataset in suite.datasets:
                        for backend in suite.backends:
                            cells.append(Cell(dataset=dataset, fold=fold, seed=seed, backend=backend,
                                              constraint=constraint, repeat=repeat, cv_folds=suite.cv_folds,
                                              test_size=suite.test_size, split_seed=suite.split_seed))
    return cells
