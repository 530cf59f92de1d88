"""Fix the experiment before any backend runs: data, split, metric, seeds, budget -> Spec."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Union

import pandas as pd

from .budget import DEFAULT_CORES, DEFAULT_GRACE_S, DEFAULT_STARTUP_TIMEOUT_S, DEFAULT_TIMEOUT_S, Budget
from .data import Dataset, load_data
from .memory import resolve_memory
from .metrics import DEFAULT_METRIC, get_metric
from .seeds import derive_all
from .spec import Spec
from .split import Split, split_from_options

DEFAULT_SEED = 0
DEFAULT_FOLDS = 5
DEFAULT_TEST_SIZE = 0.25


@dataclass(frozen=True)
class Experiment:
    """A dataset, its split and the spec built from them: what every backend shares."""

    dataset: Dataset
    split: Split
    spec: Spec


def make_budget(trials: Optional[int] = None, seconds: Optional[float] = None,
                grace_s: Optional[float] = None, timeout_s: Optional[float] = None,
                cores: Optional[Union[int, str]] = None, startup_timeout_s: Optional[float] = None,
                memory: Optional[Union[int, str]] = None) -> Budget:
    """A :class:`Budget` with the stated defaults for what is None (grace 15 s, wall cap one hour, one core).

    ``cores="all"`` means every core of this machine (``os.cpu_count()``), recorded as that number.
    ``memory`` (``"4G"``, ``"512M"``, ``"all"``, an int of MiB) is recorded as MiB when given; when it is
    not, the spec holds None (so the same command has the same spec id on every machine) and each run
    gets the default share of the machine it runs on (:func:`automux.core.experiment.memory.effective_mb`).
    """
    return Budget(trials=trials, seconds=seconds, grace_s=DEFAULT_GRACE_S if grace_s is None else grace_s,
                  timeout_s=DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s, cores=resolve_cores(cores),
                  startup_timeout_s=DEFAULT_STARTUP_TIMEOUT_S if startup_timeout_s is None else startup_timeout_s,
                  memory_mb=None if memory is None else resolve_memory(memory))


def resolve_cores(cores: Optional[Union[int, str]]) -> Any:
    """``None`` -> the default (1); ``"all"`` -> this machine's core count; a number as given (checked by Budget)."""
    import os

    if cores is None:
        return DEFAULT_CORES
    if isinstance(cores, str):
        if cores.strip().lower() == "all":
            return os.cpu_count() or 1
        try:
            return int(cores)
        except ValueError:
            return cores  # Budget refuses it with a one-line message
    return cores


def prepare(
    data: Union[str, pd.DataFrame, Dataset],
    target: Optional[str] = None,
    *,
    budget: Budget,
    seed: int = DEFAULT_SEED,
    folds: int = DEFAULT_FOLDS,
    test_size: float = DEFAULT_TEST_SIZE,
    metric: Optional[str] = None,
    task: Optional[str] = None,
    split: Optional[Union[Split, Dict[str, Any]]] = None,
    drop: Optional[Sequence[str]] = None,
    drop_missing_target: bool = False,
    parse_dates: bool = True,
) -> Experiment:
    """Load and validate the data, derive the seeds and the split, and build the spec.

    ``drop`` (columns removed before the fingerprint) and ``drop_missing_target``
    (rows without a target removed, their count recorded) are recorded in
    ``spec.data`` and applied again by ``verify`` and ``predict``; so are the columns read
    as dates and the parts they became (``spec.data["dates"]``; ``parse_dates=False`` keeps
    date-like text as categories).

    Raises:
        DataError / SpecError: bad input, with a message saying what to do.
    """
    from ..inputs import check_seed, check_share, name_list
    check_seed(seed)  # one range for every command and the API
    if drop is not None:
        name_list(drop, "drop")  # a bare string would be dropped per character
    if not isinstance(split, (Split, dict)):
        check_share(test_size)
    dataset = data if isinstance(data, Dataset) else load_data(data, target, task=task, drop=drop,
                                                                drop_missing_target=drop_missing_target,
                                                                parse_dates=parse_dates)
    seeds = derive_all(seed)
    if isinstance(split, Split):
        the_split = split
    else:
        the_split = split_from_options(dataset.y, dataset.task, seeds["split"], folds, test_size, given=split)
    metric_name = metric or DEFAULT_METRIC[dataset.task]
    get_metric(metric_name, dataset.task)
    spec = Spec(
        data=dataset.describe(),
        split={"method": the_split.method, "n_folds": the_split.n_folds, "test_size": test_size,
               "fingerprint": the_split.fingerprint},
        metric=metric_name, seed=seed, seeds=seeds, budget=budget,
    )
    return Experiment(dataset=dataset, split=the_split, spec=spec)
