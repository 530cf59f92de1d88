"""What an adapter declares about itself, as data the contract suite checks."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional, Tuple

TASK_NAMES = ("binary", "multiclass", "regression")
BUDGET_MODES = ("trials", "seconds")
#: What ``Capabilities.produces`` may say; ensembles and stacks are not interpretable.
PRODUCES = ("single", "pipeline", "ensemble", "stack")
#: The vocabulary of declared strengths the selector's soft rules read.
STRENGTHS = {
    "rapid": "good results within seconds on small data",
    "transparent_baselines": "simple, inspectable models (dummy, linear, forests)",
    "thorough_search": "keeps improving when given minutes to hours",
    "large_data": "scales to large tables (out-of-core, JVM, histogram methods)",
    "distributed": "can spread one search over several machines",
    "pipeline_search": "explores whole preprocessing + model pipelines (long runtimes)",
    "fine_control_low_budget": "sample-efficient search with a handful of trials",
    "categorical_native": "splits on categorical columns directly (no one-hot encoding)",
}


@dataclass(frozen=True)
class Capabilities:
    """Declared behaviour, each claim checked by ``automux.contracts``.

    ``deterministic`` maps each budget mode to whether two runs with the same spec
    give identical hold-out predictions at one core; ``deterministic_multicore``
    says the same for runs with ``cores > 1`` (the same core count twice): many
    backends are repeatable single-threaded only, so it defaults to False. ``min_budget`` is the sensible minimum per
    mode (trials / seconds). ``produces`` describes what the model is
    (``single`` model, ``pipeline``, ``ensemble``) for interpretability rules.
    """

    tasks: Tuple[str, ...] = TASK_NAMES
    budget_modes: Tuple[str, ...] = BUDGET_MODES
    deterministic: Dict[str, bool] = field(default_factory=lambda: {"trials": True, "seconds": False})
    deterministic_multicore: Dict[str, bool] = field(default_factory=lambda: {"trials": False, "seconds": False})
    custom_folds: bool = True
    categorical: bool = False
    missing_values: bool = False
    produces: str = "single"
    interpretable: bool = False
    min_budget: Dict[str, float] = field(default_factory=lambda: {"trials": 1, "seconds": 5})
    distributed: Optional[str] = None
    seeded: bool = True
    strengths: Tuple[str, ...] = ()

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        d["budget_modes"] = list(self.budget_modes)
        d["strengths"] = list(self.strengths)
        return d


@dataclass(frozen=True)
class Environment:
    """The interpreter range and pinned requirements an adapter needs.

    ``name`` is ``main`` when the adapter runs in automux's own environment; any
    other name is an isolated env automux builds from ``python`` and ``requirements``.
    ``import_names`` are the modules that must be importable for it to run here.
    """

    name: str = "main"
    python: str = ">=3.9"
    requirements: Tuple[str, ...] = ()
    import_names: Tuple[str, ...] = ()
    extra: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["requirements"] = list(self.requirements)
        d["import_names"] = list(self.import_names)
        return d
