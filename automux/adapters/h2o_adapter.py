"""The H2O AutoML adapter: a private JVM on 127.0.0.1 per search, or an existing cluster via ``url``.

Lifecycle of the local cluster (the part that must never leak):

* automux starts ``java -jar h2o.jar`` itself (not ``h2o.init``, which first
  attaches to any server already on its port and starts the JVM in a new
  session). The JVM gets a free port pair checked on 127.0.0.1 (REST ``P``,
  internal ``P+1``), ``-ip``/``-web_ip`` 127.0.0.1, a one-line flatfile (no
  multicast), a unique cloud name, and ``ice_root`` / logs under the job's
  scratch dir. After connecting, the cloud name and the node's pid are checked,
  so a foreign server on the same port is never used.
* The JVM stays in the caller's process group (the executor's group kill reaches
  it) and, when started from the main thread on Linux, gets ``PR_SET_PDEATHSIG``
  = SIGKILL, so a SIGKILLed worker cannot leave it behind. Its pid is written to
  ``<workdir>/child_pids``.
* It is shut down when ``search`` fails, on SIGTERM (a handler kills it, then
  re-delivers the signal), at interpreter exit, and by :func:`shutdown`. After a
  successful search it is kept for ``save`` / ``predict`` in the same process.
* With the ``url`` option automux connects to that cluster instead and never
  shuts it down; it removes the frames it uploads, while the AutoML project's
  models stay there (they are that cluster's to manage).

Budgets: a count budget maps to ``max_models`` (base models; with fewer than
``ENSEMBLE_MIN_TRIALS`` trials stacked ensembles are excluded, otherwise two
trials are kept for them), and DeepLearning is excluded because it is not
reproducible. A seconds budget maps to ``max_runtime_secs`` = time left after the
JVM start, minus a margin for collecting candidates, saving and predicting; when
too little is left (a loaded machine starts a JVM slowly), or the cap cancelled
every model, one uncapped GLM is trained instead, inside the run's grace.
Folds reach H2O as a ``fold_column``; each leaderboard model is a candidate (in
the order AutoML started them), scored by automux on its cross-validation
hold-out predictions per fold (a stacked ensemble: its metalearner's, the
estimate H2O itself reports). The chosen candidate is the best by automux's
metric, not necessarily H2O's leader; H2O trains every model on all rows too.

Options (checked in the parent by ``check_options``): ``url`` (an existing
cluster, ``http://HOST:PORT``), ``max_mem_size`` (JVM heap, default ``"1G"``),
``nthreads`` (default 1: repeatable runs), ``include_algos`` / ``exclude_algos``
(H2O algorithm names, a list or comma-separated).
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..core.adapter import Adapter, SearchResult, SearchTask
from ..core.capabilities import Capabilities, Environment
from ..core.errors import BackendUnavailable, SpecError
from ..core.hookspecs import hookimpl

JAVA_HINT = ("H2O needs a Java runtime (Java 17 recommended) on PATH or in JAVA_HOME: "
             "install it with e.g. 'apt-get install openjdk-17-jre-headless'")
#: File (in the search's workdir) listing the pids of processes this adapter started, one per line.
CHILD_PIDS = "child_pids"
MODEL_FILE = "model.h2o"
META_FILE = "automux_h2o.json"
TARGET = "__target__"
FOLD = "__fold__"
START_TIMEOUT_S = 90.0
#: Below this many trials stacked ensembles are excluded; from it on, two trials are theirs.
ENSEMBLE_MIN_TRIALS = 4
#: Seconds reserved after AutoML under a seconds budget, plus this share of the budget.
END_MARGIN_S = 4.0
END_MARGIN_SHARE = 0.1
#: Under a seconds budget with less than this left for AutoML, one quick model is trained instead.
QUICK_PLAN_BELOW_S = 10.0
#: automux metric -> H2O leaderboard sort metric (it also picks the "best of family" ensemble members).
#: (accuracy has no H2O counterpart: H2O's default applies.)
SORT_METRIC = {"roc_auc": "auc", "log_loss": "logloss", "balanced_accuracy": "mean_per_class_error",
               "rmse": "rmse", "mae": "mae", "r2": "mse"}
#: The algorithm families H2O AutoML knows (``include_algos`` / ``exclude_algos``).
ALGOS = ("DRF", "GLM", "XGBoost", "GBM", "DeepLearning", "StackedEnsemble")
OPTIONS = ("url", "max_mem_size", "nthreads", "include_algos", "exclude_algos")
KEY_PARAMS = ("ntrees", "max_depth", "learn_rate", "sample_rate", "col_sample_rate", "col_sample_rate_per_tree",
              "min_rows", "mtries", "alpha", "lambda", "booster", "reg_lambda", "reg_alpha",
              "metalearner_algorithm")


class JavaMissing(BackendUnavailable):
    """No Java runtime was found, so no local H2O cluster can start."""


def find_java() -> Optional[str]:
    """The java executable H2O would use (``$JAVA_HOME/bin/java``, then PATH), or None."""
    home = os.environ.get("JAVA_HOME")
    if home:
        cand = os.path.join(home, "bin", "java")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return shutil.which("java")


def find_jar() -> str:
    """The ``h2o.jar`` inside the installed h2o package (``$H2O_JAR_PATH`` first), without importing h2o."""
    import importlib.util

    own = os.environ.get("H2O_JAR_PATH")
    if own and os.path.isfile(own):
        return own
    spec = importlib.util.find_spec("h2o")
    for root in (spec.submodule_search_locations or []) if spec else []:
        jar = os.path.join(root, "backend", "bin", "h2o.jar")
        if os.path.isfile(jar):
            return jar
    raise BackendUnavailable("h2o.jar was not found in the installed h2o package: reinstall it "
                             "(pip install 'automux[h2o]')")


# --------------------------------------------------------------------------------------------
# The local JVM
# --------------------------------------------------------------------------------------------

def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(tries: int = 200) -> int:
    """A port ``P`` with ``P`` and ``P + 1`` both free on 127.0.0.1 (H2O uses both)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("no free pair of adjacent ports on 127.0.0.1")


def _preexec_die_with_parent() -> Any:
    """A ``preexec_fn`` giving the child SIGKILL when this thread dies (Linux), or None."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


class LocalH2O:
    """One ``h2o.jar`` JVM started by automux on 127.0.0.1; see the module docstring."""

    def __init__(self, root: Path, max_mem_size: str = "1G", nthreads: int = 1) -> None:
        parse_options({"max_mem_size": max_mem_size, "nthreads": nthreads})
        self.root = Path(root)
        self.max_mem_size = max_mem_size
        self.nthreads = int(nthreads)
        self.name = f"automux_{uuid.uuid4().hex[:12]}"
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> Optional[int]:
        return None if self.proc is None else self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the JVM and wait until it answers as this cloud; up to three ports are tried."""
        java = find_java()
        if java is None:
            raise JavaMissing(f"cannot start a local H2O cluster: Java was not found. {JAVA_HINT}")
        jar = find_jar()
        h2o_dir = self.root / "h2o"
        (h2o_dir / "ice").mkdir(parents=True, exist_ok=True)
        (h2o_dir / "logs").mkdir(exist_ok=True)
        (h2o_dir / "tmp").mkdir(exist_ok=True)
        last_error = ""
        for _attempt in range(3):
            port = free_port_pair()
            flatfile = h2o_dir / "flatfile"
            flatfile.write_text(f"127.0.0.1:{port}\n", encoding="utf-8")
            # java.io.tmpdir: the extracted XGBoost library; no perf data file in /tmp either.
            cmd = [java, f"-Xmx{self.max_mem_size}", "-XX:-UsePerfData", f"-Djava.io.tmpdir={h2o_dir / 'tmp'}",
                   "-Dsys.ai.h2o.telemetry.disabled=true", "-jar", jar,
                   "-ip", "127.0.0.1", "-web_ip", "127.0.0.1", "-port", str(port), "-flatfile", str(flatfile),
                   "-ice_root", str(h2o_dir / "ice"), "-log_dir", str(h2o_dir / "logs"), "-name", self.name,
                   "-nthreads", str(self.nthreads), "-log_level", "WARN", "-allow_unsupported_java"]
            env = dict(os.environ, DO_NOT_TRACK="1")
            with open(h2o_dir / "jvm.out", "ab") as out:
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             cwd=str(h2o_dir), env=env, preexec_fn=_preexec_die_with_parent())
            with open(self.root / CHILD_PIDS, "a", encoding="utf-8") as f:
                f.write(f"{self.proc.pid}\n")
            import h2o  # noqa: F401 - seconds of import, overlapped with the JVM's start
            if self._wait_ready(port):
                self.port = port
                return
            last_error = (h2o_dir / "jvm.out").read_text(encoding="utf-8", errors="replace")[-2000:]
            self.stop()
        raise RuntimeError(f"the H2O JVM did not start on 127.0.0.1: {last_error}")

    def _wait_ready(self, port: int) -> bool:
        """True once the server on ``port`` answers with this cloud's name and pid."""
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with opener.open(f"http://127.0.0.1:{port}/3/Cloud?skip_ticks=true", timeout=2) as r:
                    cloud = json.loads(r.read().decode("utf-8"))
                if cloud.get("cloud_name") == self.name and cloud.get("cloud_healthy") and \
                        [n.get("pid") for n in cloud.get("nodes", [])] == [self.proc.pid]:
                    return True
                if cloud.get("cloud_name") != self.name:
                    return False  # someone else's server took the port first
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        return False

    def stop(self, wait_s: float = 3.0) -> None:
        """Terminate the JVM (SIGKILL after ``wait_s``); idempotent and safe in a signal handler."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.terminate()
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# The process-wide session: at most one cluster connection per process (h2o-py is global)
# --------------------------------------------------------------------------------------------

class _Session:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.local: Optional[LocalH2O] = None
        self.url: Optional[str] = None
        self.tempdir: Optional[str] = None
        self.generation = 0  # bumped per connection: a model handle knows which cluster holds it


_SESSION = _Session()
_PREV_SIGTERM: Any = None


def _on_sigterm(signum: int, frame: Any) -> None:
    local = _SESSION.local
    if local is not None:
        local.stop(wait_s=1.5)
    signal.signal(signal.SIGTERM, _PREV_SIGTERM if _PREV_SIGTERM is not None else signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm_handler() -> None:
    """Kill the JVM on SIGTERM, then die of SIGTERM as before (main thread, default handler only)."""
    global _PREV_SIGTERM
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm or current not in (signal.SIG_DFL, None):
        return
    _PREV_SIGTERM = current
    signal.signal(signal.SIGTERM, _on_sigterm)


def _restore_sigterm_handler() -> None:
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, _PREV_SIGTERM if _PREV_SIGTERM is not None else signal.SIG_DFL)


def _connect(**kwargs: Any) -> None:
    import h2o
    h2o.no_progress()
    h2o.connect(verbose=False, telemetry=False, strict_version_check=True, **kwargs)
    _SESSION.generation += 1


def _connected() -> bool:
    import h2o
    try:
        conn = h2o.connection()
        return conn is not None and conn.connected and h2o.cluster().is_running()
    except Exception:  # h2o raises its own types when no connection exists
        return False


def start_cluster(options: Dict[str, Any], workdir: Optional[Path]) -> None:
    """Connect to a fresh private cluster under ``workdir`` (or to ``options['url']``).

    Any local cluster this process started before is shut down first.

    Raises:
        JavaMissing: no ``url`` and no Java runtime found.
        SpecError: bad options (see :func:`parse_options`).
    """
    opts = parse_options(options)
    with _SESSION.lock:
        shutdown()
        if opts["url"]:
            _connect(url=opts["url"])
            _SESSION.url = opts["url"]
            return
        if workdir is None:
            _SESSION.tempdir = tempfile.mkdtemp(prefix="automux-h2o-")
            workdir = Path(_SESSION.tempdir)
        local = LocalH2O(workdir, max_mem_size=opts["max_mem_size"], nthreads=opts["nthreads"])
        _SESSION.local = local
        _install_sigterm_handler()
        try:
            local.start()
            _connect(ip="127.0.0.1", port=local.port)
        except BaseException:
            shutdown()
            raise


def ensure_cluster(options: Optional[Dict[str, Any]] = None) -> None:
    """Reuse the current cluster connection, or start a private one in a temp dir."""
    with _SESSION.lock:
        if (_SESSION.local is not None and _SESSION.local.running()) or _SESSION.url:
            if _connected():
                return
        start_cluster(options or {}, None)


def shutdown() -> None:
    """Close the connection; stop the JVM automux started (never a cluster given by ``url``)."""
    with _SESSION.lock:
        if _SESSION.local is not None or _SESSION.url:
            try:
                import h2o
                conn = h2o.connection()
                if conn is not None and conn.connected:
                    conn.close()
            except Exception:  # closing is best effort: the JVM is stopped below anyway
                pass
        if _SESSION.local is not None:
            _SESSION.local.stop()
            _SESSION.local = None
            _restore_sigterm_handler()
        _SESSION.url = None
        if _SESSION.tempdir:
            shutil.rmtree(_SESSION.tempdir, ignore_errors=True)
            _SESSION.tempdir = None


atexit.register(shutdown)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------

def _frame_layout(X: pd.DataFrame) -> Dict[str, Any]:
    """How features become H2O columns: positional names ``x0..`` and enum / real types."""
    names = [f"x{i}" for i in range(X.shape[1])]
    types = {}
    for name, col in zip(names, X.columns):
        dtype = X[col].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype) \
            and not isinstance(dtype, pd.CategoricalDtype)
        types[name] = "real" if numeric else "enum"
    return {"features": [str(c) for c in X.columns], "names": names, "types": types}


def _features(X: pd.DataFrame, layout: Dict[str, Any]) -> pd.DataFrame:
    """``X`` as a plain frame with the layout's column names; enum columns as strings with NaN."""
    missing = [c for c in layout["features"] if c not in set(map(str, X.columns))]
    if missing:
        raise SpecError(f"the data lacks the model's feature columns: {', '.join(missing[:5])}")
    X = X.rename(columns=str)[layout["features"]]
    out = pd.DataFrame(index=range(len(X)))
    for name, col in zip(layout["names"], layout["features"]):
        values = X[col].reset_index(drop=True)
        if layout["types"][name] == "enum":
            values = values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v))
        else:
            values = values.astype("float64")
        out[name] = values
    return out


def _upload(frame: pd.DataFrame, types: Dict[str, str]) -> Any:
    import h2o
    return h2o.H2OFrame(frame, column_types=dict(types))


def _download(h2o_frame: Any) -> pd.DataFrame:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the "install polars for multi-thread" hint
        return h2o_frame.as_data_frame(use_pandas=True)


def _level(k: int) -> str:
    return f"c{k}"


def _output(pred: pd.DataFrame, task: str, n_classes: int) -> np.ndarray:
    """H2O prediction columns as automux predictions (probabilities in class-code order)."""
    if task == "regression":
        return pred["predict"].to_numpy(dtype=np.float64)
    out = np.zeros((len(pred), n_classes), dtype=np.float64)
    for k in range(n_classes):
        if _level(k) in pred.columns:
            out[:, k] = pred[_level(k)].to_numpy(dtype=np.float64)
    return out


class H2OModel:
    """A model on the connected cluster plus what automux needs to feed it and read it back.

    ``binary`` is a local copy of the model (``h2o.download_model``); with it the
    model is uploaded again when the cluster that held it is gone.
    """

    def __init__(self, model: Any, meta: Dict[str, Any], binary: Optional[Path] = None) -> None:
        self.model = model
        self.meta = meta
        self.binary = binary
        self.generation = _SESSION.generation

    def live(self) -> Any:
        """The model on the current cluster (uploading the local copy after a restart)."""
        import h2o

        ensure_cluster()
        if self.generation != _SESSION.generation:
            if self.binary is None or not Path(self.binary).exists():
                raise RuntimeError(f"the H2O cluster that held {self.meta.get('model_id')} is gone and "
                                   "no local copy was kept: load() the saved model again")
            self.model = h2o.upload_model(str(self.binary))
            self.generation = _SESSION.generation
        return self.model

    def __repr__(self) -> str:
        return f"H2OModel({self.meta.get('model_id')!r})"


# --------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------

def _algos(options: Dict[str, Any], key: str) -> List[str]:
    """An algorithm list option: a JSON list, or one name / comma-separated names, in H2O's spelling."""
    value = options.get(key) or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    known = {a.lower(): a for a in ALGOS}
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.lower() in known for v in value):
        raise SpecError(f"h2o option {key}={value!r}: give a list of algorithm names among {', '.join(ALGOS)}")
    return [known[v.lower()] for v in value]


def parse_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """The adapter's options with defaults filled in (see the module docstring).

    Raises:
        SpecError: an unknown option or a bad value.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SpecError(f"unknown h2o option {', '.join(map(repr, unknown))}: the options are {', '.join(OPTIONS)}")
    out = {"url": options.get("url") or None, "max_mem_size": str(options.get("max_mem_size") or "1G"),
           "nthreads": options.get("nthreads", 1), "include_algos": _algos(options, "include_algos"),
           "exclude_algos": _algos(options, "exclude_algos")}
    if out["url"] is not None:
        from urllib.parse import urlsplit
        try:
            parts = urlsplit(str(out["url"]))
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            ok = False
        if not ok:
            raise SpecError(f"h2o option url={_display_url(str(out['url']))!r}: give the cluster's address as "
                            "http://HOST:PORT (or https://HOST)")
        out["url"] = str(out["url"])
    if not re.fullmatch(r"[1-9][0-9]*[kKmMgG]?", out["max_mem_size"]):
        raise SpecError(f"h2o option max_mem_size={out['max_mem_size']!r}: give a JVM heap size such as '1G' "
                        "or '512M'")
    if isinstance(out["nthreads"], bool) or not isinstance(out["nthreads"], int) or out["nthreads"] < 1:
        raise SpecError(f"h2o option nthreads={out['nthreads']!r}: give a positive whole number (1 keeps runs "
                        "repeatable)")
    if out["include_algos"] and out["exclude_algos"]:
        raise SpecError("h2o options include_algos and exclude_algos exclude each other: give one of them")
    return out


def _display_url(url: str) -> str:
    """``url`` without a password, for logs and messages."""
    return re.sub(r"(://[^:/@\s]+:)([^@\s]+)(@)", r"\1***\3", url)


def _automl_settings(task: SearchTask) -> Dict[str, Any]:
    """H2OAutoML keyword arguments for the task's budget, seed and metric."""
    budget = task.budget
    kwargs: Dict[str, Any] = {"seed": int(task.seed), "keep_cross_validation_predictions": True,
                              "verbosity": None}
    opts = parse_options(task.options)
    include, exclude = list(opts["include_algos"]), list(opts["exclude_algos"])

    def drop(algo: str) -> None:
        if include and algo in include:
            include.remove(algo)
        elif not include and algo not in exclude:
            exclude.append(algo)

    if budget.trials is not None:
        if not include:
            drop("DeepLearning")  # hogwild training: not reproducible (unless asked for by name)
        ensembles = "StackedEnsemble" in include if include else "StackedEnsemble" not in exclude
        if ensembles and budget.trials < ENSEMBLE_MIN_TRIALS:
            drop("StackedEnsemble")
            ensembles = False
        # max_models counts base models only: up to two final ensembles are trials too.
        kwargs["max_models"] = int(budget.trials) - (2 if ensembles else 0)
    if opts["include_algos"] and not include:
        raise SpecError(f"h2o option include_algos={opts['include_algos']!r} leaves no algorithm "
                        f"to train under {budget.trials} trials (ensembles need {ENSEMBLE_MIN_TRIALS})")
    if include:
        kwargs["include_algos"] = include
    elif exclude:
        kwargs["exclude_algos"] = exclude
    sort = SORT_METRIC.get(task.metric.name)
    if sort == "auc" and task.task != "binary":
        sort = "logloss"
    if sort:
        kwargs["sort_metric"] = sort
    if budget.seconds is not None:
        left = task.time_left() - (END_MARGIN_S + END_MARGIN_SHARE * float(budget.seconds))
        if left < QUICK_PLAN_BELOW_S:
            return _quick_plan(kwargs)
        kwargs["max_runtime_secs"] = int(left)
    return kwargs


def _quick_plan(settings: Dict[str, Any]) -> Dict[str, Any]:
    """One model of the fastest family (GLM unless ``include_algos`` says otherwise), with no time cap.

    For when a seconds budget leaves too little time: a capped AutoML cancels its
    first model (XGBoost) and ends with none. The run's grace covers the overrun.
    """
    out = {k: v for k, v in settings.items() if k not in ("max_runtime_secs", "exclude_algos", "include_algos")}
    out["max_models"] = 1
    out["include_algos"] = list(settings.get("include_algos") or ["GLM"])[:1]
    return out


def _build_order(aml: Any, model_ids: List[str]) -> List[str]:
    """Leaderboard models in the order AutoML started them (its event log)."""
    log = _download(aml.event_log)
    started: List[str] = []
    for msg in log["message"].astype(str):
        m = re.match(r"AutoML: starting (\S+) model training", msg)
        if m and m.group(1) in model_ids and m.group(1) not in started:
            started.append(m.group(1))
    return started + [m for m in model_ids if m not in started]


def _key_params(model: Any) -> Dict[str, Any]:
    params = model.actual_params or {}
    out: Dict[str, Any] = {}
    for key in KEY_PARAMS:
        v = params.get(key)
        if isinstance(v, (int, float, str, bool)) or (isinstance(v, list) and len(v) <= 4):
            out[key] = v
    if model.algo == "stackedensemble":
        out["base_models"] = len(params.get("base_models") or [])
    return out


def _holdout_predictions(model: Any) -> Optional[Any]:
    """Out-of-fold predictions for every training row (a stacked ensemble: its metalearner's)."""
    if model.algo == "stackedensemble":
        meta = model.metalearner()
        return None if meta is None else meta.cross_validation_holdout_predictions()
    return model.cross_validation_holdout_predictions()


class H2OAdapter(Adapter):
    name = "h2o"
    capabilities = Capabilities(
        tasks=("binary", "multiclass", "regression"),
        budget_modes=("trials", "seconds"),
        deterministic={"trials": True, "seconds": False},
        custom_folds=True, categorical=True, missing_values=True,
        produces="ensemble", interpretable=False,
        min_budget={"trials": 1, "seconds": 30},  # the JVM's start counts against a seconds budget
        distributed="h2o cluster (option url)",
        strengths=("large_data", "distributed", "thorough_search", "categorical_native"),
    )
    environment = Environment(name="main", python=">=3.9", requirements=("h2o>=3.46",),
                              import_names=("h2o",), extra="h2o")

    def unavailable_reason(self) -> Optional[str]:
        """Missing ``h2o`` package or missing Java (checked without importing h2o)."""
        reason = super().unavailable_reason()
        if reason is None and find_java() is None:
            reason = f"Java not found. {JAVA_HINT}"
        return reason

    def check_options(self, options: Dict[str, Any]) -> None:
        """Bad options are user errors, refused in the parent before a worker starts."""
        parse_options(options)

    def validate(self, task: SearchTask) -> None:
        """The base checks, then the options against the budget (before any JVM starts).

        Raises:
            UnsupportedTask, UnsupportedData: see :meth:`Adapter.validate`.
            SpecError: bad options, or ``include_algos`` that leave nothing to train.
        """
        super().validate(task)
        _automl_settings(task)

    def search(self, task: SearchTask) -> SearchResult:
        try:
            return self._search(task)
        except BaseException:
            shutdown()
            raise

    def _search(self, task: SearchTask) -> SearchResult:
        t0 = time.monotonic()
        start_cluster(task.options, task.workdir)
        import h2o
        from h2o.automl import H2OAutoML, get_leaderboard

        task.log(f"h2o: cluster ready in {time.monotonic() - t0:.1f}s"
                 + (f" at {_display_url(task.options['url'])}" if task.options.get("url") else
                    f" on 127.0.0.1:{_SESSION.local.port} (pid {_SESSION.local.pid})"))
        layout = _frame_layout(task.X)
        frame = _features(task.X, layout)
        types = dict(layout["types"])
        if task.task != "regression":
            frame[TARGET] = [_level(int(v)) for v in task.y]
            types[TARGET] = "enum"
        else:
            frame[TARGET] = np.asarray(task.y, dtype=np.float64)
            types[TARGET] = "real"
        fold = np.full(len(frame), -1, dtype=np.int64)
        for k, (_, valid) in enumerate(task.folds):
            fold[valid] = k
        if (fold < 0).any():
            raise SpecError("h2o needs every training row in exactly one validation fold")
        frame[FOLD] = fold
        types[FOLD] = "int"
        train = _upload(frame, types)

        def automl(settings: Dict[str, Any]) -> "tuple[Any, pd.DataFrame]":
            aml = H2OAutoML(project_name=f"automux_{uuid.uuid4().hex[:8]}", **settings)
            task.log(f"h2o: AutoML {json.dumps({k: v for k, v in settings.items() if k != 'verbosity'})}")
            aml.train(x=layout["names"], y=TARGET, training_frame=train, fold_column=FOLD)
            return aml, _download(get_leaderboard(aml, extra_columns="ALL"))

        settings = _automl_settings(task)
        aml, lb = automl(settings)
        if lb.empty and "max_runtime_secs" in settings:
            settings = _quick_plan(settings)  # the time cap cancelled every model
            aml, lb = automl(settings)
        if lb.empty:
            raise RuntimeError("H2O AutoML trained no model within the budget")
        times = dict(zip(lb["model_id"], lb.get("training_time_ms", pd.Series([None] * len(lb)))))
        ids: List[str] = []
        limit = task.budget.trials
        for model_id in _build_order(aml, list(lb["model_id"])):
            if limit is not None and len(ids) >= limit:
                break  # defensive: never report more candidates than trials
            model = h2o.get_model(model_id)
            holdout = _holdout_predictions(model)
            scores: List[Optional[float]] = [None] * len(task.folds)
            if holdout is not None:
                pred = _output(_download(holdout), task.task, task.n_classes)
                scores = [task.metric(task.y[valid], pred[valid]) for _, valid in task.folds]
            ms = times.get(model_id)
            task.add_candidate(model.algo, _key_params(model), scores, steps=["H2OFrame", model.algo],
                               fit_time_s=None if ms is None or pd.isna(ms) else float(ms) / 1000.0,
                               model_id=model_id)
            ids.append(model_id)
        chosen = task.best_index()
        if chosen is None:
            raise RuntimeError("no H2O model had cross-validation predictions to score")
        model = h2o.get_model(ids[chosen])
        h2o.remove(train)
        binary = h2o.download_model(model, path=str(task.workdir), filename=f"chosen_{MODEL_FILE}")
        meta = dict(layout, task=task.task, n_classes=task.n_classes, model_id=ids[chosen],
                    algo=model.algo, h2o_version=h2o.__version__)
        return SearchResult(model=H2OModel(model, meta, binary=Path(binary)), chosen=chosen,
                            info={"h2o_version": h2o.__version__, "leader": str(lb["model_id"][0]),
                                  "automl": {k: v for k, v in settings.items() if k != "verbosity"}})

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        import h2o

        live = model.live()
        meta = model.meta
        frame = _upload(_features(X, meta), meta["types"])
        pred_frame = live.predict(frame)
        pred = _output(_download(pred_frame), meta["task"], meta["n_classes"])
        h2o.remove(frame)
        h2o.remove(pred_frame)
        return pred

    def save(self, model: Any, path: Path) -> None:
        path = Path(path)
        if model.binary is not None and Path(model.binary).exists():
            shutil.copyfile(model.binary, path / MODEL_FILE)
        else:
            import h2o
            h2o.download_model(model.live(), path=str(path), filename=MODEL_FILE)
        (path / META_FILE).write_text(json.dumps(model.meta, indent=2, sort_keys=True), encoding="utf-8")

    def load(self, path: Path) -> Any:
        import h2o

        ensure_cluster()
        path = Path(path)
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        return H2OModel(h2o.upload_model(str(path / MODEL_FILE)), meta, binary=path / MODEL_FILE)


@hookimpl
def automux_adapters() -> List[Adapter]:
    return [H2OAdapter()]
