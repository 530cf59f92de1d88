"""Readiness check before AutoML: baselines on the fixed folds, data warnings, a verdict.

What it measures, all on the experiment's own split (the hold-out is used only
to score the two baselines, exactly as automux scores a run):

* **baselines**: ``dummy`` and ``linear`` from the reference adapter
  (:func:`automux.core.baselines.build_model`), fitted on each fold's fit
  rows and scored with the spec's metric on its validation rows, then refit on
  all training rows and scored on the hold-out;
* **small data** (``small_data``): validation rows per fold; **rows per class**
  (``small_class``): training rows of the rarest class;
* **unstable folds** (``unstable_folds``): the linear baseline's fold-to-fold
  spread compared with its gain over the dummy;
* **leakage signals**: ``target_copy`` (a column that is a near-copy of the
  target), ``single_column_leak`` (one column alone predicts the target almost
  perfectly on the fixed folds), ``id_column`` (a unique integer index or a
  row-name column), ``date_text`` (unique dates kept as text);
* **wide categoricals** (``high_cardinality``): a categorical column with more than
  ``HIGH_CARDINALITY_LEVELS`` levels or distinct on more than ``HIGH_CARDINALITY_SHARE``
  of the training rows; ``stats["dates"]`` says which columns were read as dates.

**Bounded cost.** With more than ``SAMPLE_ROWS`` training rows, the baselines and the
leakage signals work on a seeded, class-stratified sample of ``SAMPLE_ROWS`` training
rows (and ``SAMPLE_ROWS // 3`` hold-out rows), kept on their own folds; the report says so
(``stats["sample"]``: rows, of how many, seed) and the baselines' scores are those of the
sample. The size warnings always use the whole split. ``stats["seconds"]`` records the
time spent, per stage and in total.

Needs scikit-learn (the baselines and the per-column trees): without it :func:`check`
raises a one-line ``UserError`` naming the extra to install (``automux[sklearn]``).

Every warning is ``{kind, column, reason, severity}`` (column warnings also carry
``fix``: the exact ``--drop COL`` argument to pass); severity ``blocker``
makes the verdict ``not ready``, any ``warning`` makes it ``ready with
warnings``, none gives ``ready``. The thresholds are the module constants below
(documented in docs/governance.md).
"""
from __future__ import annotations

import math
import re
import shlex
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..core.experiment.dates import looks_like_dates
from ..core.experiment.prepare import Experiment
from ..core.experiment.split import Split, stable_permutation
from ..core.errors import MissingExtra  # importable here, where it began (now in core.errors)

READY, READY_WITH_WARNINGS, NOT_READY = "ready", "ready with warnings", "not ready"
BLOCKER, WARNING = "blocker", "warning"

#: Validation rows per fold below which scores are too noisy to rank models (blocker) ...
MIN_ROWS_PER_FOLD = 10
#: ... and below which they are noisy enough to say so (warning).
WARN_ROWS_PER_FOLD = 50
#: Training rows of the rarest class: blocker below ``BLOCK_CLASS_PER_FOLD * folds``
#: (fewer than 2 per validation fold), warning below ``WARN_CLASS_PER_FOLD * folds``.
BLOCK_CLASS_PER_FOLD = 2
WARN_CLASS_PER_FOLD = 10
#: The linear baseline's fold std above this share of its gain over the dummy: unstable folds.
UNSTABLE_SPREAD_SHARE = 0.25
#: A single column is a leak when, alone, it reaches this out-of-fold balanced
#: accuracy (classification) or R^2 (regression) on the fixed folds.
LEAK_BALANCED_ACCURACY = 0.97
LEAK_R2 = 0.95
#: A numeric column whose |Pearson| or |Spearman| correlation with the target
#: (class codes for binary) reaches this is a near-copy of the target.
COPY_CORRELATION = 0.9
#: A categorical column whose values map one-to-one onto classes on this share of rows is a copy.
COPY_AGREEMENT = 0.98
#: Id-like: unique values on at least this share of rows.
ID_UNIQUE_SHARE = 0.99
ID_NAME = re.compile(r"(^|[_\W])(id|idx|index|key|uuid|row|rownum|row_?name|name)$|^unnamed:?\s*\d+$",
                     re.IGNORECASE)

#: A categorical column with more levels than this, or distinct on more than ``HIGH_CARDINALITY_SHARE``
#: of the training rows (and at least ``HIGH_CARDINALITY_MIN`` levels), is high-cardinality (a warning).
HIGH_CARDINALITY_LEVELS = 1000
HIGH_CARDINALITY_SHARE = 0.5
HIGH_CARDINALITY_MIN = 50

#: Training rows above which baselines and leakage signals run on a seeded sample of this many.
SAMPLE_ROWS = 20_000
#: Salt of the sample's seeded permutation (the seed is the spec's ``split`` seed).
SAMPLE_SALT = 0x5EAD

DataLike = Union[str, pd.DataFrame]


def _need_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise MissingExtra("the readiness check needs scikit-learn: pip install 'automux[sklearn]' "
                           "(or skip it with --no-check)") from e


def drop_arg(col: str) -> str:
    """The exact command-line argument that drops ``col``: ``--drop 'Unnamed: 0'``."""
    return f"--drop {shlex.quote(str(col))}"


@dataclass(frozen=True)
class Baseline:
    """One baseline model scored on the fixed folds and the hold-out."""

    name: str
    fold_scores: List[float]
    holdout: Optional[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores))

    @property
    def std(self) -> float:
        return float(np.std(self.fold_scores, ddof=1)) if len(self.fold_scores) > 1 else 0.0

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "fold_scores": list(self.fold_scores), "mean": self.mean, "std": self.std,
                "holdout": self.holdout}


@dataclass(frozen=True)
class Readiness:
    """The readiness of one experiment (data + split + metric).

    ``warnings`` holds ``{kind, column, reason, severity}`` dicts; ``verdict`` is
    ``ready`` / ``ready with warnings`` / ``not ready``; ``baselines`` maps
    ``dummy`` and ``linear`` to their fold and hold-out scores;
    ``split_fingerprint`` and ``metric`` say which folds and metric they are for
    (a gain is only computed against the same ones).
    """

    verdict: str
    warnings: List[Dict[str, Any]]
    baselines: Dict[str, Baseline]
    metric: str
    greater_is_better: bool
    split_fingerprint: str
    stats: Dict[str, Any] = field(default_factory=dict)

    @property
    def best_baseline(self) -> Baseline:
        """The stronger baseline by mean fold score (ties: the simpler one)."""
        sign = 1.0 if self.greater_is_better else -1.0
        return max(self.baselines.values(), key=lambda b: (sign * b.mean, b.name == "dummy"))

    def to_json(self) -> Dict[str, Any]:
        """The object ``automux check --json`` prints and ``record.extra['readiness']`` holds."""
        return {"verdict": self.verdict, "warnings": [dict(w) for w in self.warnings],
                "baselines": {k: b.to_json() for k, b in self.baselines.items()}, "metric": self.metric,
                "greater_is_better": self.greater_is_better, "split_fingerprint": self.split_fingerprint,
                "stats": dict(self.stats)}

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Readiness":
        return cls(verdict=d["verdict"], warnings=[dict(w) for w in d["warnings"]],
                   baselines={k: Baseline(name=b["name"], fold_scores=list(b["fold_scores"]), holdout=b["holdout"])
                              for k, b in d["baselines"].items()},
                   metric=d["metric"], greater_is_better=d["greater_is_better"],
                   split_fingerprint=d["split_fingerprint"], stats=dict(d.get("stats", {})))


def _warn(kind: str, column: Optional[str], reason: str, severity: str = WARNING) -> Dict[str, Any]:
    w = {"kind": kind, "column": column, "reason": reason, "severity": severity}
    if column is not None:
        w["fix"] = drop_arg(column)
    return w


def baselines(exp: Experiment) -> Dict[str, Baseline]:
    """``dummy`` and ``linear`` (the reference adapter's models) on the experiment's folds and hold-out."""
    _need_sklearn()
    from ..core.sklearn_kit import predict_output, to_sklearn_frame
    from ..core.baselines import build_model
    from ..core.experiment.metrics import get_metric

    ds, split = exp.dataset, exp.split
    metric = get_metric(exp.spec.metric, ds.task)
    train = np.asarray(split.train, dtype=np.int64)
    hold = np.asarray(split.holdout, dtype=np.int64)
    X_typed = ds.X.iloc[train].reset_index(drop=True)  # categoricals typed: decides the one-hot columns
    X = to_sklearn_frame(X_typed)
    y = ds.y[train]
    seed = exp.spec.seeds["backend"]
    k = len(ds.classes)
    out: Dict[str, Baseline] = {}
    for name in ("dummy", "linear"):
        scores = []
        for fit, valid in split.fold_pairs():
            model = build_model(name, {}, ds.task, X_typed, seed).fit(X.iloc[fit], y[fit])
            scores.append(float(metric(y[valid], predict_output(model, X.iloc[valid], ds.task, k))))
        holdout = None
        if len(hold):
            model = build_model(name, {}, ds.task, X_typed, seed).fit(X, y)
            pred = predict_output(model, ds.X.iloc[hold].reset_index(drop=True), ds.task, k)
            holdout = float(metric(ds.y[hold], pred))
        out[name] = Baseline(name=name, fold_scores=scores, holdout=holdout)
    return out


def _size_warnings(exp: Experiment) -> "tuple[List[Dict[str, Any]], Dict[str, Any]]":
    ds, split = exp.dataset, exp.split
    per_fold = [len(f) for f in split.folds]
    stats: Dict[str, Any] = {"rows": int(ds.n_rows), "train_rows": len(split.train), "holdout_rows": len(split.holdout),
                             "folds": split.n_folds, "min_rows_per_fold": min(per_fold)}
    out = []
    n = min(per_fold)
    if n < MIN_ROWS_PER_FOLD:
        out.append(_warn("small_data", None, f"only {n} validation rows per fold ({ds.n_rows} rows, "
                         f"{len(split.holdout)} held out, {split.n_folds} folds): fold scores on so few rows cannot "
                         f"rank models; gather more data (at least {MIN_ROWS_PER_FOLD * split.n_folds} training "
                         "rows) or use fewer folds", BLOCKER))
    elif n < WARN_ROWS_PER_FOLD:
        out.append(_warn("small_data", None, f"{n} validation rows per fold: fold scores are noisy, expect "
                         "small differences between candidates to be chance"))
    if ds.task != "regression":
        y = ds.y[np.asarray(split.train, dtype=np.int64)]
        counts = np.bincount(y, minlength=len(ds.classes))
        rare = int(np.argmin(counts))
        m = int(counts[rare])
        stats["min_rows_per_class"] = m
        label = ds.classes[rare]
        if m < BLOCK_CLASS_PER_FOLD * split.n_folds:
            out.append(_warn("small_class", None, f"class {label!r} has only {m} training rows "
                             f"(under {BLOCK_CLASS_PER_FOLD} per validation fold over {split.n_folds} folds): "
                             "its scores are chance; gather more rows of it or merge classes", BLOCKER))
        elif m < WARN_CLASS_PER_FOLD * split.n_folds:
            out.append(_warn("small_class", None, f"class {label!r} has {m} training rows "
                             f"({m / split.n_folds:.1f} per validation fold): metrics that weigh it are noisy"))
    return out, stats


def _stability_warnings(base: Dict[str, Baseline], greater_is_better: bool, metric: str) -> List[Dict[str, Any]]:
    lin, dummy = base["linear"], base["dummy"]
    sign = 1.0 if greater_is_better else -1.0
    gain = sign * (lin.mean - dummy.mean)
    spread = lin.std
    if spread == 0.0:
        return []
    if gain <= 0 or spread > UNSTABLE_SPREAD_SHARE * gain:
        what = (f"the linear baseline does not beat the dummy ({metric} {lin.mean:.4g} vs {dummy.mean:.4g})"
                if gain <= 0 else f"its gain over the dummy is only {gain:.4g}")
        return [_warn("unstable_folds", None, f"the linear baseline's {metric} varies by +/-{spread:.4g} across "
                      f"folds and {what}: differences between candidates smaller than about {spread:.3g} "
                      "cannot be told apart on these folds")]
    return []


def _is_integer_valued(s: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(s.dtype):
        return True
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.dropna().to_numpy()
        return len(v) > 0 and bool(np.all(np.mod(v, 1) == 0))
    return False


def _id_warnings(X: pd.DataFrame, n_population: Optional[int] = None,
                 row_name_column: Optional[str] = None) -> List[Dict[str, Any]]:
    """Id-like columns; ``n_population``: rows ``X`` was sampled from (the dense-run test uses it)."""
    out = []
    n = len(X)
    if n < 10:
        return out
    span_rows = max(n, n_population or n)
    for col in X.columns:
        s = X[col]
        fix = drop_arg(col)
        if row_name_column is not None and str(col) == row_name_column:
            kind = "row numbers" if pd.api.types.is_numeric_dtype(s.dtype) else "row names"
            out.append(_warn("id_column", str(col), f"column {col!r} is a leading unnamed column of {kind} "
                             f"(R row names / a saved pandas index), not a feature: pass {fix} "
                             "(if the rows are ordered by the target, it also leaks it)"))
            continue
        non_null = s.dropna()
        share = non_null.nunique() / n
        if share < ID_UNIQUE_SHARE:
            continue
        named = bool(ID_NAME.search(str(col)))
        if isinstance(s.dtype, pd.CategoricalDtype) and looks_like_dates(s):  # dates kept as text: not a key
            out.append(_warn("date_text", str(col), f"column {col!r} holds dates as text, not read as dates "
                             f"({share:.0%} distinct; day or month first is ambiguous, or parse_dates=False): "
                             f"write them as ISO dates (YYYY-MM-DD) so their parts are used, or pass {fix}"))
        elif isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s.dtype):
            out.append(_warn("id_column", str(col), f"column {col!r} is text with a distinct value on "
                             f"{share:.0%} of rows: a row name or key, not a feature; pass {fix}"))
        elif _is_integer_valued(s):
            v = non_null.to_numpy(dtype=float)
            dense = (v.max() - v.min() + 1) <= 1.5 * span_rows
            if dense or named:
                shape = "a dense run of integers" if dense else "unique integers"
                out.append(_warn("id_column", str(col), f"column {col!r} holds {shape}, one per row "
                                 f"({share:.0%} distinct): a row index or id, not a feature; pass {fix} "
                                 "(if the rows are ordered by the target, it also leaks it)"))
    return out


def _cardinality_warnings(exp: Experiment, ids_warned: bool) -> List[Dict[str, Any]]:
    """``high_cardinality``: categorical columns with very many levels on the training rows (all of them).

    A column distinct on ``ID_UNIQUE_SHARE`` of rows is left to the id warning when ``ids_warned``.
    """
    ds, split = exp.dataset, exp.split
    train = np.asarray(split.train, dtype=np.int64)
    n = len(train)
    out = []
    for col in ds.X.columns:
        s = ds.X[col]
        if not isinstance(s.dtype, pd.CategoricalDtype) or n == 0:
            continue
        codes = s.cat.codes.to_numpy()[train]
        levels = int(np.count_nonzero(np.bincount(codes[codes >= 0], minlength=1)))
        share = levels / n
        if levels < HIGH_CARDINALITY_MIN or (ids_warned and share >= ID_UNIQUE_SHARE):
            continue
        if levels > HIGH_CARDINALITY_LEVELS or share > HIGH_CARDINALITY_SHARE:
            dated = " (it holds dates as text that were not read as dates: write them as ISO dates)" \
                if looks_like_dates(s) else ""
            out.append(_warn("high_cardinality", str(col), f"column {col!r} has {levels} distinct values on "
                             f"{n} training rows ({share:.0%}){dated}: one-hot encoders cap it to its most frequent "
                             "levels and many backends learn little from it; pass "
                             f"{drop_arg(col)}, or keep it for backends that encode it natively "
                             "(those whose strengths list categorical_native: FLAML, AutoGluon)"))
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(a: np.ndarray) -> np.ndarray:
    return pd.Series(a).rank(method="average").to_numpy()


def _class_counts(codes: np.ndarray, y: np.ndarray, n_codes: int) -> np.ndarray:
    """Rows per (code, class): an ``n_codes x n_classes`` table (codes ``0..n_codes-1``)."""
    k = int(y.max()) + 1 if len(y) else 1
    return np.bincount(codes * k + y, minlength=n_codes * k).reshape(n_codes, k)


def _copy_warnings(X: pd.DataFrame, y: np.ndarray, task: str) -> List[Dict[str, Any]]:
    out = []
    for col in X.columns:
        s = X[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            if task == "regression":
                continue
            mask = s.notna().to_numpy()
            if mask.sum() < 10:
                continue
            codes = s.cat.codes.to_numpy().astype(np.int64)[mask]
            counts = _class_counts(codes, y[mask].astype(np.int64), len(s.cat.categories))
            agree = counts.max(axis=1).sum() / int(mask.sum())
            n_values = int((counts.sum(axis=1) > 0).sum())
            if agree >= COPY_AGREEMENT and n_values <= 2 * len(np.unique(y[mask])):
                out.append(_warn("target_copy", str(col), f"column {col!r} names the class on {agree:.1%} of rows: "
                                 f"a copy of the target; pass {drop_arg(col)}", BLOCKER))
            continue
        if task == "multiclass" or not pd.api.types.is_numeric_dtype(s.dtype):
            continue
        v = s.to_numpy(dtype=float)
        mask = np.isfinite(v)
        if mask.sum() < 10:
            continue
        pearson = _corr(v[mask], y[mask].astype(float))
        spearman = _corr(_ranks(v[mask]), _ranks(y[mask].astype(float)))
        r = max(abs(pearson), abs(spearman))
        if r >= COPY_CORRELATION:
            out.append(_warn("target_copy", str(col), f"column {col!r} correlates with the target at "
                             f"|r| = {r:.3f}: a near-copy of the target (or computed from it); pass {drop_arg(col)} "
                             "unless it is known before prediction time", BLOCKER))
    return out


def _single_column_scores(X: pd.DataFrame, y: np.ndarray, task: str, folds: Sequence[Any],
                          n_classes: int, seed: int) -> Dict[str, float]:
    """Out-of-fold balanced accuracy (classification) or R^2 (regression) of each column alone."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    scores: Dict[str, float] = {}
    reg = task == "regression"
    depth = 8 if reg else max(3, int(math.ceil(math.log2(max(n_classes, 2)))) + 2)
    for col in X.columns:
        s = X[col]
        oof = np.zeros(len(y), dtype=float)
        for fit, valid in folds:
            if isinstance(s.dtype, pd.CategoricalDtype):
                # the column as a lookup table: per-value target mean / majority class on the fit rows
                # (missing is a value of its own); values unseen in the fit rows get the overall one
                n_codes = len(s.cat.categories) + 1
                codes = s.cat.codes.to_numpy().astype(np.int64)
                codes = np.where(codes < 0, n_codes - 1, codes)
                seen = np.bincount(codes[fit], minlength=n_codes) > 0
                if reg:
                    default = float(np.mean(y[fit]))
                    sums = np.bincount(codes[fit], weights=y[fit].astype(float), minlength=n_codes)
                    cnt = np.bincount(codes[fit], minlength=n_codes)
                    table = np.where(seen, sums / np.maximum(cnt, 1), default)
                else:
                    yi = y.astype(np.int64)
                    default = float(np.bincount(yi[fit]).argmax())
                    table = np.where(seen, _class_counts(codes[fit], yi[fit], n_codes).argmax(axis=1), default)
                oof[valid] = table[codes[valid]]
            else:
                v = s.to_numpy(dtype=float).reshape(-1, 1)
                tree = (DecisionTreeRegressor(max_depth=depth, min_samples_leaf=5, random_state=seed) if reg else
                        DecisionTreeClassifier(max_depth=depth, min_samples_leaf=2, random_state=seed))
                tree.fit(v[fit], y[fit])
                oof[valid] = tree.predict(v[valid])
        if reg:
            ss_tot = float(np.sum((y - y.mean()) ** 2))
            scores[str(col)] = 1.0 - float(np.sum((y - oof) ** 2)) / ss_tot if ss_tot > 0 else 0.0
        else:
            yi = y.astype(int)
            pred = oof.astype(int)
            scores[str(col)] = float(np.mean([np.mean(pred[yi == c] == c) for c in np.unique(yi)]))
    return scores


def _sample_positions(y: np.ndarray, task: str, n_keep: int, seed: int, min_per_class: int) -> np.ndarray:
    """Sorted positions of a seeded sample of ``n_keep`` of ``len(y)``, stratified by class."""
    n = len(y)
    if n <= n_keep:
        return np.arange(n)
    if task == "regression":
        return np.sort(stable_permutation(np.arange(n), seed, salt=SAMPLE_SALT)[:n_keep])
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        take = min(len(idx), max(int(round(n_keep * len(idx) / n)), min_per_class))
        picked.append(stable_permutation(idx, seed, salt=SAMPLE_SALT + int(c) + 1)[:take])
    return np.sort(np.concatenate(picked))


def sample_experiment(exp: Experiment, rows: int = SAMPLE_ROWS) -> "tuple[Experiment, Optional[Dict[str, Any]]]":
    """``exp`` restricted to a seeded sample of its training (and hold-out) rows, each on its own fold.

    Returns ``(exp, None)`` when there are at most ``rows`` training rows.
    """
    ds, split = exp.dataset, exp.split
    train = np.asarray(split.train, dtype=np.int64)
    if len(train) <= rows:
        return exp, None
    seed = int(exp.spec.seeds.get("split", exp.spec.seed))
    hold = np.asarray(split.holdout, dtype=np.int64)
    ids = split.row_fold_ids()
    keep_train = train[_sample_positions(ds.y[train], ds.task, rows, seed, 10 * split.n_folds)]
    n_hold = max(rows // 3, 1)
    keep_hold = hold[_sample_positions(ds.y[hold], ds.task, n_hold, seed + 1, 10)] if len(hold) else hold
    keep = np.sort(np.concatenate([keep_train, keep_hold]))
    sub_ids = ids[keep]
    sub_split = Split.from_row_fold_ids(sub_ids, split.n_folds, method=split.method)
    if any(len(f) == 0 for f in sub_split.folds):  # a sample too small for its folds: use all rows
        return exp, None
    sub_ds = replace(ds, X=ds.X.iloc[keep].reset_index(drop=True), y=ds.y[keep])
    info = {"rows": int(len(keep_train)), "of_rows": int(len(train)), "holdout_rows": int(len(keep_hold)),
            "of_holdout_rows": int(len(hold)), "seed": seed, "salt": SAMPLE_SALT,
            "method": "class-stratified seeded permutation" if ds.task != "regression" else "seeded permutation",
            "note": f"baselines and leakage signals computed on a seeded sample of {len(keep_train)} of "
                    f"{len(train)} training rows"}
    return replace(exp, dataset=sub_ds, split=sub_split), info


def check(exp: Experiment, *, leakage: bool = True, sample_rows: Optional[int] = SAMPLE_ROWS) -> Readiness:
    """The readiness of ``exp``: baselines on its fixed folds, warnings with reasons, a verdict.

    Uses only the training rows for the data warnings and the leakage signals
    (the hold-out is touched only to score the baselines). Costs two baseline
    models per fold plus, with ``leakage``, one small tree per column and fold;
    above ``sample_rows`` training rows (None: never) on a stated seeded sample.

    Raises:
        MissingExtra: scikit-learn is not installed (one line: ``pip install 'automux[sklearn]'``).
    """
    from ..core.experiment.metrics import get_metric

    _need_sklearn()
    t0 = time.perf_counter()
    seconds: Dict[str, float] = {}
    ds, split = exp.dataset, exp.split
    metric = get_metric(exp.spec.metric, ds.task)
    warnings, stats = _size_warnings(exp)
    warnings += _cardinality_warnings(exp, ids_warned=leakage)
    if getattr(ds, "date_columns", None):  # said, not warned: what the date columns became
        stats["dates"] = {c: dict(v) for c, v in ds.date_columns.items()}
    work, sample = (exp, None) if sample_rows is None else sample_experiment(exp, sample_rows)
    if sample is not None:
        stats["sample"] = sample
    stats["sample_rows"] = sample["rows"] if sample else len(split.train)
    seconds["setup"] = time.perf_counter() - t0
    t = time.perf_counter()
    base = baselines(work)
    seconds["baselines"] = time.perf_counter() - t
    warnings += _stability_warnings(base, metric.greater_is_better, metric.name)
    if leakage:
        t = time.perf_counter()
        wds, wsplit = work.dataset, work.split
        train = np.asarray(wsplit.train, dtype=np.int64)
        X = wds.X.iloc[train].reset_index(drop=True)
        y = wds.y[train]
        ids = _id_warnings(X, n_population=len(split.train) if sample else None,
                           row_name_column=getattr(ds, "row_name_column", None))
        copies = _copy_warnings(X, y, ds.task)
        flagged = {w["column"] for w in copies}
        single = _single_column_scores(X, y, ds.task, wsplit.fold_pairs(), len(ds.classes),
                                       exp.spec.seeds["backend"])
        limit = LEAK_R2 if ds.task == "regression" else LEAK_BALANCED_ACCURACY
        what = "R^2" if ds.task == "regression" else "balanced accuracy"
        leaks = [_warn("single_column_leak", col, f"column {col!r} alone predicts the target with out-of-fold "
                       f"{what} {score:.3f} on the fixed folds: almost perfectly, which real features rarely do; "
                       "check that it is known before prediction time and not derived from the target, "
                       f"else pass {drop_arg(col)}", BLOCKER)
                 for col, score in sorted(single.items(), key=lambda kv: -kv[1])
                 if score >= limit and col not in flagged]
        warnings += copies + leaks + ids
        top = sorted(single.items(), key=lambda kv: -kv[1])[:5]
        stats["best_single_columns"] = [{"column": c, what.replace(" ", "_").replace("^", ""): s} for c, s in top]
        seconds["leakage"] = time.perf_counter() - t
    if any(w["severity"] == BLOCKER for w in warnings):
        verdict = NOT_READY
    elif warnings:
        verdict = READY_WITH_WARNINGS
    else:
        verdict = READY
    seconds["total"] = time.perf_counter() - t0
    stats["seconds"] = {k: round(v, 4) for k, v in seconds.items()}
    return Readiness(verdict=verdict, warnings=warnings, baselines=base, metric=metric.name,
                     greater_is_better=metric.greater_is_better, split_fingerprint=split.fingerprint, stats=stats)


def check_data(data: DataLike, target: Optional[str] = None, *, seed: int = 0, folds: Optional[int] = None,
               test_size: Optional[float] = None, metric: Optional[str] = None, task: Optional[str] = None,
               split: Optional[Dict[str, Any]] = None, leakage: bool = True,
               drop: Optional[Sequence[str]] = None, drop_missing_target: bool = False,
               sample_rows: Optional[int] = SAMPLE_ROWS) -> Readiness:
    """The library twin of ``automux check``: fix the experiment as ``run`` would, then :func:`check`.

    Same data, seed, folds, test size and metric as a later ``run`` => the same
    folds, so the baselines are the ones its gain is measured against.

    Raises:
        DataError, SpecError: bad input (as for ``automux.run``).
    """
    from ..core.experiment.data import Dataset, load_data
    from ..core.experiment.prepare import DEFAULT_FOLDS, DEFAULT_TEST_SIZE, make_budget, prepare

    if not isinstance(data, Dataset) and (drop or drop_missing_target):
        data = load_data(data, target, task=task, drop=drop, drop_missing_target=drop_missing_target)
    exp = prepare(data, target, budget=make_budget(trials=1), seed=seed,
                  folds=DEFAULT_FOLDS if folds is None else folds,
                  test_size=DEFAULT_TEST_SIZE if test_size is None else test_size, metric=metric, task=task,
                  split=split)
    return check(exp, leakage=leakage, sample_rows=sample_rows)

