"""Fakes for the checks in :mod:`automux.contracts.checks_data` (named as fakes; never registered).

``GoodDataFake`` handles categoricals and missing values and is repeatable at
two cores: it passes both checks. Each broken fake fails exactly the check in
its ``BREAKS``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Tuple

from ..core.adapter import SearchResult, SearchTask
from .fakes import GoodFake


class GoodDataFake(GoodFake):
    """The control: categoricals and missing values supported, deterministic at two cores too."""

    name = "good_data_fake"
    capabilities = dataclasses.replace(GoodFake.capabilities, tasks=("binary", "multiclass"), categorical=True,
                                       missing_values=True,
                                       deterministic_multicore={"trials": True, "seconds": False})
    BREAKS: Tuple[str, ...] = ()


class UsersNamesFake(GoodDataFake):
    """Puts the user's own column names back and then refuses them the way LightGBM does."""

    name = "users_names_fake"
    BREAKS = ("check_hostile_frame",)
    _REFUSED = re.compile(r'[:\[\]{}",]')

    def search(self, task: SearchTask) -> SearchResult:
        job = json.loads((Path(task.workdir).parent / "job.json").read_text(encoding="utf-8"))
        names = dict(zip(job["feature_names"]["safe"], job["feature_names"]["original"]))
        bad = [names.get(c, c) for c in task.X.columns if self._REFUSED.search(names.get(c, c))]
        if bad:
            raise ValueError(f"Do not support special JSON characters in feature name: {bad[0]!r}")
        return super().search(task)


class CoreCountNondeterministicFake(GoodDataFake):
    """Declares determinism at two cores, but seeds its search from the OS whenever it gets more than one."""

    name = "core_count_nondeterministic_fake"
    BREAKS = ("check_deterministic_at_two_cores",)

    def search_seed(self, task: SearchTask) -> int:
        return int.from_bytes(os.urandom(4), "little") if task.cores > 1 else task.seed
