"""Selector rules: hard rules exclude a backend (naming the rule), soft rules rank the rest.

A rule is a plain object with ``name``, ``kind`` (``hard`` or ``soft``) and
``apply(profile, constraints, backend)``. ``backend`` is the dict that
``automux.backends()`` lists (name, available, reason, env, capabilities). A hard
rule returns a reason string to exclude, or None; a soft rule returns a list of
``(points, reason)``. Plugins add rules through the ``automux_selector_rules`` hook.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from .profile import Profile

Backend = Dict[str, Any]
Points = List[Tuple[float, str]]

#: Data-size thresholds the soft rules use (rows).
TINY_ROWS = 1_000
SMALL_ROWS = 10_000
LARGE_ROWS = 100_000
#: Budgets (seconds) under which search-heavy backends are penalised, and over which they shine.
SHORT_BUDGET_S = 60
LONG_BUDGET_S = 600


@dataclass(frozen=True)
class Constraints:
    """What the humans fix: budget, and what the choice must respect.

    ``time_budget_s`` / ``trials`` describe the budget the run will get (a
    seconds budget alone when ``trials`` is None). ``memory_gb`` is the memory
    the run may use. ``allow_env_builds`` says whether isolated envs may be
    built here; ``installed_only`` restricts the choice to backends that can run now.
    """

    time_budget_s: Optional[float] = None
    trials: Optional[int] = None
    interpretable: bool = False
    deterministic: bool = False
    cluster: bool = False
    memory_gb: Optional[float] = None
    allow_env_builds: bool = True
    installed_only: bool = False

    def __post_init__(self) -> None:
        import math

        from ..core.errors import SpecError

        for flag, value in (("--budget-seconds", self.time_budget_s), ("--memory-gb", self.memory_gb)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise SpecError(f"{flag} {value!r}: give a positive, finite number")
        if self.trials is not None and (isinstance(self.trials, bool) or not isinstance(self.trials, int)
                                        or self.trials <= 0):
            raise SpecError(f"--budget-trials {self.trials!r}: give a positive whole number")

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @property
    def budget_mode(self) -> str:
        return "trials" if self.trials is not None else "seconds"


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # "hard" or "soft"
    apply: Callable[[Profile, Constraints, Backend], Any]
    doc: str = ""


def _caps(b: Backend) -> Dict[str, Any]:
    return b.get("capabilities") or {}


# --- hard rules -------------------------------------------------------------------

def task_supported(p: Profile, c: Constraints, b: Backend) -> Optional[str]:
    tasks = _caps(b).get("tasks", [])
    return None if p.task in tasks else f"{p.task} tasks are not supported (it supports {', '.join(tasks)})"


def budget_above_minimum(p: Profile, c: Constraints, b: Backend) -> Optional[str]:
    minimum = _caps(b).get("min_budget", {})
    if c.trials is not None and c.trials < minimum.get("trials", 0):
        return f"a budget of {c.trials} trials is below its sensible minimum of {minimum['trials']:g}"
    if c.trials is None and c.time_budget_s is not None and c.time_budget_s < minimum.get("seconds", 0):
        return f"a {c.time_budget_s:g} s budget is below its sensible minimum of {minimum['seconds']:g} s"
    return None


def determinism_possible(p: Profile, c: Constraints, b: Backend) -> Optional[str]:
    if not c.deterministic:
        return None
    det = _caps(b).get("deterministic", {})
    if det.get(c.budget_mode):
        return None
    if c.budget_mode == "seconds" and det.get("trials") and "trials" in _caps(b).get("budget_modes", []):
        return ("determinism required, but it is deterministic only under a count budget: "
                "use --budget-trials instead of a seconds budget")
    return f"determinism required, but it is not deterministic under a {c.budget_mode} budget"


def interpretable_output(p: Profile, c: Constraints, b: Backend) -> Optional[str]:
    produces = _caps(b).get("produces", "single")
    if c.interpretable and produces in ("ensemble", "stack"):
        return f"interpretability required, but it produces {produces}s"
    return None


def env_buildable(p: Profile, c: Constraints, b: Backend) -> Optional[str]:
    env = b.get("env") or {}
    isolated = env.get("name", "main") != "main"
    if c.installed_only and not b.get("available"):
        return f"installed backends only, and it cannot run here: {b.get('reason')}"
    if isolated and not c.allow_env_builds and not b.get("available"):
        return f"it needs its own environment ({env.get('name')}), and building envs is not allowed"
    if not isolated and not b.get("available"):
        return f"not installed here: {b.get('reason')}"
    return None


# --- soft rules -------------------------------------------------------------------

def _has(b: Backend, strength: str) -> bool:
    return strength in _caps(b).get("strengths", [])


def data_size_fit(p: Profile, c: Constraints, b: Backend) -> Points:
    out: Points = []
    if p.rows < TINY_ROWS:
        if _has(b, "transparent_baselines"):
            out.append((2.0, f"tiny data ({p.rows} rows): transparent baselines are hard to beat and easy to trust"))
        if _has(b, "rapid"):
            out.append((1.0, f"tiny data ({p.rows} rows): a rapid search is enough"))
        if _has(b, "fine_control_low_budget"):
            out.append((1.0, f"tiny data ({p.rows} rows): fine control at low budgets"))
        if _has(b, "pipeline_search") or _has(b, "large_data"):
            out.append((-1.0, f"tiny data ({p.rows} rows): its heavy machinery costs more than it can gain"))
    if p.rows >= LARGE_ROWS:
        if _has(b, "large_data"):
            out.append((2.0, f"large data ({p.rows} rows): it scales to large tables"))
        if c.cluster and _has(b, "distributed"):
            out.append((2.5, "a cluster is available and it can run distributed"))
        if _has(b, "pipeline_search"):
            out.append((-1.5, f"large data ({p.rows} rows): pipeline search is slow at this size"))
        if _has(b, "transparent_baselines") and not _has(b, "large_data"):
            out.append((-0.5, f"large data ({p.rows} rows): baselines leave accuracy on the table"))
    if TINY_ROWS <= p.rows < SMALL_ROWS and _has(b, "large_data"):
        out.append((-0.5, f"small data ({p.rows} rows): its start-up costs more than its scale can give"))
    return out


def budget_fit(p: Profile, c: Constraints, b: Backend) -> Points:
    out: Points = []
    seconds = c.time_budget_s
    if seconds is not None and seconds <= SHORT_BUDGET_S:
        if _has(b, "rapid"):
            out.append((1.5, f"a short budget ({seconds:g} s) favours a rapid search"))
        if _has(b, "fine_control_low_budget"):
            out.append((1.0, f"a short budget ({seconds:g} s) favours sample-efficient search"))
        if _has(b, "pipeline_search") or _has(b, "thorough_search"):
            out.append((-1.5, f"a short budget ({seconds:g} s) is too little for its search to pay off"))
        minimum = _caps(b).get("min_budget", {}).get("seconds", 0)
        if minimum and seconds < 2 * minimum:
            out.append((-1.0, f"the budget is less than twice its minimum of {minimum:g} s (start-up dominates)"))
    if seconds is not None and seconds >= LONG_BUDGET_S:
        if _has(b, "thorough_search"):
            out.append((2.0, f"a long budget ({seconds:g} s) lets a thorough search keep improving"))
        if _has(b, "pipeline_search"):
            out.append((1.5, f"a long budget ({seconds:g} s) suits exploratory pipeline search"))
    return out


def data_kind_fit(p: Profile, c: Constraints, b: Backend) -> Points:
    caps = _caps(b)
    out: Points = []
    if p.categorical and caps.get("categorical"):
        share = p.categorical / max(p.features, 1)
        out.append((0.5, f"{p.categorical} categorical columns ({share:.0%} of features), accepted as they are"))
        if _has(b, "categorical_native"):
            points = 1.0 if share >= 0.2 else 0.5
            out.append((points, f"{share:.0%} of features are categorical and it splits on them natively"))
    if p.missing_share > 0 and caps.get("missing_values"):
        out.append((0.5, f"{p.missing_share:.1%} missing values, handled natively"))
    if c.interpretable and caps.get("interpretable"):
        out.append((1.0, "interpretability required: its models are inspectable"))
        if caps.get("produces") == "single":
            out.append((0.5, "interpretability required: one model is simpler to explain than a pipeline"))
    if c.cluster and caps.get("distributed") and p.rows < LARGE_ROWS:
        out.append((0.25, f"a cluster is available and it can use one ({caps['distributed']})"))
    env = b.get("env") or {}
    if env.get("name", "main") != "main" and not b.get("available"):
        out.append((-0.5, f"its environment ({env.get('name')}) must be built first"))
    return out


HARD_RULES: List[Rule] = [
    Rule("task_supported", "hard", task_supported, "the backend must support the task"),
    Rule("budget_above_minimum", "hard", budget_above_minimum, "the budget must reach its declared minimum"),
    Rule("determinism_possible", "hard", determinism_possible,
         "when determinism is required, it must be deterministic under the budget mode"),
    Rule("interpretable_output", "hard", interpretable_output,
         "when interpretability is required, no ensembles or stacks"),
    Rule("env_buildable", "hard", env_buildable, "it must be installed, or its env buildable here"),
]
SOFT_RULES: List[Rule] = [
    Rule("data_size_fit", "soft", data_size_fit, "declared strengths against the data size"),
    Rule("budget_fit", "soft", budget_fit, "declared strengths against the time budget"),
    Rule("data_kind_fit", "soft", data_kind_fit, "native categorical / missing / interpretability support"),
]
