"""The tpot adapter against real TPOT 1.1 (Dask in-process, scikit-learn, xgboost), with small budgets."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automux
from automux.core.experiment.spec import candidates_identity

pytest.importorskip("tpot")
psutil = pytest.importorskip("psutil")  # installed with distributed, which TPOT needs

BREAST = "sklearn:breast_cancer"
TRIALS = 4
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


class WorkerWatch:
    """Polls, while runs go on, the worker processes whose job dir is under ``root``.

    Records every process in each worker's session (the worker starts its own), the
    command line of each one besides the worker, and every listening TCP socket those
    processes hold.
    """

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.sessions = set()
        self.others = {}  # pid -> argv of a session process that is not the worker itself
        self.listening = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "WorkerWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def session_procs(self, sid: int):
        out = []
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getsid(p.pid) == sid:
                    out.append(p)
            except (ProcessLookupError, PermissionError):
                pass
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            for p in psutil.process_iter(["pid", "cmdline"]):
                cmd = p.info.get("cmdline") or []
                if "automux.core.run.worker" in cmd and any(a.startswith(self.root) for a in cmd):
                    try:
                        self.sessions.add(os.getsid(p.pid))
                    except ProcessLookupError:
                        pass
            for sid in list(self.sessions):
                procs = self.session_procs(sid)
                for proc in procs:
                    if proc.pid != sid and proc.pid not in self.others:
                        try:
                            self.others[proc.pid] = tuple(proc.cmdline())
                        except (psutil.NoSuchProcess, psutil.AccessDenied):
                            pass
                    try:
                        for conn in proc.net_connections(kind="inet"):
                            if conn.status == psutil.CONN_LISTEN:
                                self.listening.add((proc.pid, conn.laddr.ip, conn.laddr.port))
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
            self.polls += 1
            time.sleep(0.1)


@pytest.fixture(scope="module")
def seeded_runs(tmp_path_factory):
    """Two worker runs of one spec (seed 3, 4 trials, 3 folds), watched for processes and sockets."""
    store = tmp_path_factory.mktemp("tpot-store")
    args = dict(budget_trials=TRIALS, folds=3, seed=3, store=store)
    with WorkerWatch(store) as watch:
        a = automux.run(BREAST, "target", "tpot", **args)
        b = automux.run(BREAST, "target", "tpot", **args)
    return a, b, watch


def test_same_seed_and_count_budget_same_predictions(seeded_runs):
    a, b, _ = seeded_runs
    assert a.status == b.status == "ok", (a.error, b.error)
    assert a.predictions_sha256 == b.predictions_sha256
    assert candidates_identity(a.candidates) == candidates_identity(b.candidates)
    assert [c.fold_scores for c in a.candidates] == [c.fold_scores for c in b.candidates]
    assert a.chosen == b.chosen
    assert a.determinism["declared_deterministic"] is True


def test_candidates_are_tpot_pipelines_within_the_trial_budget(seeded_runs):
    a, _, _ = seeded_runs
    assert 1 <= len(a.candidates) <= TRIALS
    for cand in a.candidates:
        assert len(cand.fold_scores) == 3
        assert len(cand.steps) >= 2 and cand.steps[-1] == cand.algorithm  # scaler/selector/.../estimator
        assert [step for step, _ in cand.params["steps"]] == cand.steps
    scored = [c for c in a.candidates if c.cv_score is not None]
    assert scored and all(all(math.isfinite(s) for s in c.fold_scores) for c in scored)
    assert a.candidates[a.chosen].cv_score == max(c.cv_score for c in scored)  # roc_auc


def test_dask_stays_in_process_and_opens_no_public_port(seeded_runs):
    a, b, watch = seeded_runs
    assert len(watch.sessions) == 2 and watch.polls > 20  # both workers were seen, many times
    off_loopback = [s for s in watch.listening if s[1] not in LOOPBACK]
    assert off_loopback == [], off_loopback
    # No Dask scheduler, nanny or worker process: each would be a Python interpreter in the
    # worker's session. A short-lived tool a library shells out to (``uname -p`` from
    # ``platform.uname().processor``, which distributed reads) is not one of them.
    pythons = [argv for argv in watch.others.values() if argv and "python" in Path(argv[0]).name]
    assert pythons == [], pythons
    for sid in watch.sessions:
        assert watch.session_procs(sid) == []  # and nothing of it is left


def _search_task(frame, trials, workdir, folds=3, seed=5):
    from automux.core.adapter import SearchTask
    from automux.core.experiment.prepare import make_budget, prepare
    from automux.core.experiment.metrics import get_metric

    exp = prepare(frame, "target", budget=make_budget(trials=trials), seed=seed, folds=folds)
    ds, split = exp.dataset, exp.split
    train = list(split.train)
    task = SearchTask(X=ds.X.iloc[train].reset_index(drop=True), y=ds.y[train], task=ds.task,
                      classes=[str(c) for c in ds.classes], folds=split.fold_pairs(),
                      metric=get_metric(exp.spec.metric, ds.task), seed=exp.spec.seeds["backend"],
                      budget=exp.spec.budget, options={}, workdir=workdir, log=lambda m: None)
    return task, ds.X.iloc[list(split.holdout)].reset_index(drop=True)


def _mixed_frame(n=160):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "c": pd.Categorical(rng.choice(["x", "y", "z"], size=n))})
    frame.loc[::9, "a"] = np.nan
    frame.loc[::13, "c"] = np.nan
    frame["target"] = np.where(frame["b"] + (frame["c"] == "x") > 0.3, "yes", "no")
    return frame


def test_fold_scores_are_automux_metric_on_the_given_folds(tmp_path):
    """In process, on categorical + missing data: the chosen pipeline, cross-validated by automux
    on ``task.folds``, gives exactly the fold scores the candidate reported; Dask is closed after."""
    import distributed
    from sklearn.base import clone

    from automux.core.sklearn_kit import predict_output
    from automux.adapters.tpot_adapter import TpotAdapter

    task, holdout = _search_task(_mixed_frame(), trials=3, workdir=tmp_path)
    threads_before = {t.ident for t in threading.enumerate()}
    # children from earlier tests (e.g. multiprocessing's resource tracker) are not this search's
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    adapter = TpotAdapter()
    result = adapter.search(task)
    assert 1 <= len(task.candidates) <= 3
    chosen = task.candidates[result.chosen]
    assert chosen.steps[0] == "ColumnTransformer"  # the fixed imputation / one-hot step
    pipeline = result.model["pipeline"]
    again = task.cross_validate(lambda Xf, yf, Xv: predict_output(clone(pipeline).fit(Xf, yf), Xv, task.task,
                                                                  task.n_classes))
    assert again == chosen.fold_scores
    # out-of-fold predictions from the search's own fold fits: they give exactly the recorded fold scores
    assert result.oof is not None and result.oof.shape == (len(task.X), 2)
    assert [task.metric(task.y[v], result.oof[v]) for _, v in task.folds] == chosen.fold_scores
    pred = adapter.predict(result.model, holdout)
    assert pred.shape == (len(holdout), 2) and np.all(np.isfinite(pred))
    adapter.save(result.model, tmp_path)
    assert np.array_equal(adapter.predict(adapter.load(tmp_path), holdout), pred)
    # No client, scheduler or worker thread outlives the search (Dask's process-wide
    # offload executor, created once per process, is not a cluster's).
    assert not distributed.client._global_clients
    left = [t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()
            and not t.name.startswith("Dask-Offload")]
    assert left == []
    assert [p for p in psutil.Process().children(recursive=True) if p.pid not in children_before] == []


def test_start_up_starts_dask_with_the_memory_limit_and_shut_down_closes_it(tmp_path):
    """start_up (outside the budget) imports TPOT and starts the loopback cluster with the spec's memory as the
    Dask worker's memory_limit; search uses it; shut_down closes it, leaving no client or cluster thread."""
    import distributed

    from automux.adapters.tpot_adapter import TpotAdapter

    task, _ = _search_task("sklearn:diabetes", trials=2, workdir=tmp_path)
    task.memory_mb = 1536
    threads_before = {t.ident for t in threading.enumerate()}
    adapter = TpotAdapter()
    assert adapter.start_up(task) == {}
    cluster, client = adapter._dask
    workers = client.scheduler_info()["workers"]
    assert [w["memory_limit"] for w in workers.values()] == [1536 * 2 ** 20]
    result = adapter.search(task)
    assert adapter._dask == (cluster, client)  # the search ran on start_up's cluster
    chosen = task.candidates[result.chosen]
    assert result.oof is not None and result.oof.shape == (len(task.X),)
    assert [task.metric(task.y[v], result.oof[v]) for _, v in task.folds] == chosen.fold_scores
    adapter.shut_down()
    assert adapter._dask is None and not distributed.client._global_clients
    left = [t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()
            and not t.name.startswith("Dask-Offload")]
    assert left == []


@pytest.mark.parametrize("source, task", [("sklearn:iris", "multiclass"), ("sklearn:diabetes", "regression")])
def test_multiclass_and_regression(source, task, tmp_path):
    rec = automux.run(source, None, "tpot", budget_trials=3, folds=3, seed=1, store=tmp_path)
    assert rec.status == "ok", rec.error
    assert rec.spec.task == task
    assert rec.score is not None and math.isfinite(rec.score)
    assert 1 <= len(rec.candidates) <= 3
    assert any(c.cv_score is not None and math.isfinite(c.cv_score) for c in rec.candidates)


# TPOT under a seconds budget ending within budget + grace (30 s, its declared minimum) is
# tests/test_contracts.py's check_seconds_budget_respected[tpot]: the same run, not repeated here.


def test_count_plan_never_exceeds_the_trials():
    from automux.adapters.tpot_adapter import count_plan

    for trials in range(1, 60):
        for population in (2, 5, 8, 20):
            pop, initial, generations = count_plan(trials, population)
            assert pop <= population and generations >= 1 and pop <= initial < 2 * pop
            assert initial + (generations - 1) * pop == trials


def test_unknown_option_fails_before_any_trial(tmp_path):
    # the parent refuses it before any worker starts: no run, no record (issue 11: unknown options refused)
    from automux.core.errors import SpecError
    with pytest.raises(SpecError, match="generations"):
        automux.run("sklearn:iris", None, "tpot", budget_trials=2, folds=3, options={"generations": 5},
                    store=tmp_path, inline=True)
    assert not automux.runs(store=tmp_path)


def test_importing_the_adapter_imports_no_backend():
    code = ("import sys; from automux.adapters import tpot_adapter as m; a = m.TpotAdapter(); "
            "a.unavailable_reason(); a.describe(); "
            "print(sorted(x for x in ('tpot', 'dask', 'distributed', 'sklearn') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_large_tables_under_a_seconds_budget_drop_knn(tmp_path):
    """Past LARGE_ROWS rows, a seconds budget leaves out the k-nearest neighbours (their prediction is one
    uninterruptible rows x rows call); count budgets and small tables keep the full list; the per-pipeline
    limit is a third of the time."""
    from types import SimpleNamespace

    from automux.adapters.tpot_adapter import CLASSIFIERS, LARGE_ROWS, REGRESSORS, TpotAdapter, default_estimators

    def task(seconds, trials=None, kind="binary"):
        budget = SimpleNamespace(seconds=seconds, trials=trials, candidate_limit_s=60.0)
        return SimpleNamespace(budget=budget, task=kind, workdir=tmp_path, deadline=time.monotonic() + 60
                               if seconds else None, time_left=lambda: 60.0)

    big = LARGE_ROWS + 1
    assert default_estimators(task(60), big) == tuple(e for e in CLASSIFIERS if e != "KNeighborsClassifier")
    assert "KNeighborsRegressor" not in default_estimators(task(60, kind="regression"), big)
    assert default_estimators(task(None, trials=5), big) == CLASSIFIERS
    assert default_estimators(task(60), LARGE_ROWS) == CLASSIFIERS
    assert default_estimators(task(60, kind="regression"), 100) == REGRESSORS
    plan = TpotAdapter()._budget(task(60), 8)
    assert plan["max_eval_time_mins"] == pytest.approx(plan["max_time_mins"] / 3)
    assert TpotAdapter()._budget(task(None, trials=5), 8)["max_time_mins"] is None


def test_the_prep_step_is_frozen_from_the_training_rows(monkeypatch):
    """automux_prep learns nothing when fitted: fitted on any subset of rows it transforms exactly as fitted
    on all (so applying it once before TPOT is the same as fitting it in every fold); medians and modes come
    from the rows it was built on, one-hot width is capped at MAX_LEVELS (rarer and unseen levels: zeros), and
    a categorical with no value is dropped."""
    from sklearn.base import clone

    from automux.adapters import tpot_adapter as m

    monkeypatch.setattr(m, "MAX_LEVELS", 3)
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0, np.nan, 5.0], "b": [1, 2, 3, 4, 5, 6],
                      "c": ["x", "y", "x", np.nan, "z", "w"], "d": [np.nan] * 6, "e": [None] * 6},
                     ).astype({"c": object, "e": object})
    assert m.automux_prep(X[["b"]]) is None  # nothing to impute or encode: no step
    prep = m.automux_prep(X)
    full = prep.fit_transform(X)
    part = clone(prep).fit(X.iloc[:2]).transform(X)
    assert np.array_equal(full, part)
    names = list(prep.get_feature_names_out())
    assert names == ["b", "a", "c_w", "c_x", "c_y", "d"]  # 3 levels of c (x most frequent, then ties by name)
    a, d = names.index("a"), names.index("d")
    assert list(full[:, a]) == [1.0, 4.0, 3.0, 10.0, 4.0, 5.0] and list(full[:, d]) == [0.0] * 6
    onehot = full[:, 2:5]
    assert onehot[3].tolist() == [0, 1, 0]  # missing: the most frequent level (x)
    assert onehot[4].tolist() == [0, 0, 0]  # z: past MAX_LEVELS
    unseen = prep.transform(X.assign(c=["new"] * 6))
    assert not unseen[:, 2:5].any()


def _seconds_task(frame, seconds, workdir):
    from automux.core.adapter import SearchTask
    from automux.core.experiment.prepare import make_budget, prepare
    from automux.core.experiment.metrics import get_metric

    exp = prepare(frame, "target", budget=make_budget(seconds=seconds), seed=2, folds=3)
    ds, split = exp.dataset, exp.split
    train = list(split.train)
    return SearchTask(X=ds.X.iloc[train].reset_index(drop=True), y=ds.y[train], task=ds.task,
                      classes=[str(c) for c in ds.classes], folds=split.fold_pairs(),
                      metric=get_metric(exp.spec.metric, ds.task), seed=exp.spec.seeds["backend"],
                      budget=exp.spec.budget, options={}, workdir=workdir, log=lambda m: None)


def _large_search(frame, tmp_path, monkeypatch, seconds=8):
    """A real TPOT search on ``frame`` with LARGE_ROWS lowered below its rows: (task, result, seconds past
    the deadline when it returned)."""
    from automux.adapters import tpot_adapter as m

    monkeypatch.setattr(m, "LARGE_ROWS", 50)
    task = _seconds_task(frame, seconds, tmp_path)
    adapter = m.TpotAdapter()
    adapter.start_up(task)
    try:
        task.deadline = time.monotonic() + seconds
        result = adapter.search(task)
        over = time.monotonic() - task.deadline
    finally:
        adapter.shut_down()
    return task, result, over


def test_a_large_search_scores_a_cheap_pipeline_first_and_ends_by_its_deadline(tmp_path, monkeypatch):
    """Past LARGE_ROWS rows under a seconds budget (LARGE_ROWS lowered here, real TPOT): the first pipeline TPOT
    scores is the cheap one (scaler, no selection, GaussianNB), a logistic regression is fitted by lbfgs, and
    the search returns by its deadline with TPOT's threads stopped."""
    task, result, over = _large_search(_mixed_frame(400), tmp_path, monkeypatch)
    assert task.candidates[0].steps == ["ColumnTransformer", "StandardScaler", "Passthrough", "GaussianNB"]
    assert task.candidates[result.chosen].cv_score is not None and over < 3.0
    for cand in task.candidates:
        if cand.algorithm == "LogisticRegression":
            assert dict(cand.params["steps"])["LogisticRegression"]["solver"] == "lbfgs"
    time.sleep(1.0)  # GivenUp is raised into a still-running thread every 0.5 s until it ends
    assert not [t.name for t in threading.enumerate() if t.name == "automux-tpot-fit"]


def test_a_large_regression_search_scores_ridge_first_drops_neighbours_and_ends_by_its_deadline(tmp_path,
                                                                                              monkeypatch):
    """The same large search on a regression table: the cheap first pipeline ends in RidgeCV, no k-nearest-
    neighbours regressor is tried (its prediction costs rows x rows), the chosen candidate is scored, and the
    search returns by its deadline."""
    frame = _mixed_frame(400)
    rng = np.random.RandomState(1)
    frame["target"] = frame["b"] * 2.0 + (frame["c"] == "x") + rng.normal(scale=0.1, size=len(frame))
    task, result, over = _large_search(frame, tmp_path, monkeypatch)
    assert task.task == "regression"
    assert task.candidates[0].steps == ["ColumnTransformer", "StandardScaler", "Passthrough", "RidgeCV"]
    assert not [c.algorithm for c in task.candidates if "Neighbors" in c.algorithm]
    assert task.candidates[result.chosen].cv_score is not None and over < 3.0


class FakeEndlessEstimator:
    """A fake TPOT estimator (no TPOT): its fit runs until an exception is raised into its thread."""

    def __init__(self):
        self.stopped = threading.Event()

    def fit(self, X, y):
        try:
            while True:
                time.sleep(0.05)
        finally:
            self.stopped.set()


def test_a_fit_past_the_deadline_is_given_up_and_its_thread_stopped(tmp_path, monkeypatch):
    """fit_within_deadline gives the fit up at the deadline less the refit margin, stops recording scores and
    stops the thread (GivenUp raised into it); a scored fold arriving after that is not a candidate."""
    from automux.adapters import tpot_adapter as m

    monkeypatch.setattr(m, "LARGE_ROWS", 10)
    task = _seconds_task(_mixed_frame(60), 30, tmp_path)
    task.deadline = time.monotonic() + m.refit_margin_s(30) + 1.0
    live, fake = m._Live(task), FakeEndlessEstimator()
    t0 = time.monotonic()
    assert m.fit_within_deadline(task, live, fake, task.X, task.y) is False
    assert 0.8 < time.monotonic() - t0 < 2.0 and live.closed
    assert fake.stopped.wait(2.0)
    valid = task.folds[0][1]
    live.record(object(), task.X.iloc[valid], 0.5)
    assert task.candidates == [] and live.partial == {}
