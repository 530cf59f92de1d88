"""The H2O AutoML adapter, as a package (cluster, frames, plan, adapter): a private JVM on 127.0.0.1 per search, or an existing cluster via ``url``.

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
* ``start_up`` starts it (before the budget clock starts: the JVM's start is
  not search time) and ``shut_down`` stops it; ``search`` starts it itself when
  ``start_up`` was not called. It is also shut down when ``search`` fails, on
  SIGTERM (a handler kills it, then re-delivers the signal), at interpreter exit,
  and by :func:`shutdown`. After a successful search it is kept for ``save`` /
  ``predict`` in the same process.
* A compare or bench keeps the JVM warm across its H2O runs (``automux.core.run.warm``):
  the parent starts it (``start_warm``: same command line, its own session, dying with
  the starting thread) for runs of the same heap and threads (``warm_key``); a run lent
  it (``task.warm``) connects after checking its cloud name and pid, removes every H2O
  object before and after (``h2o.remove_all``), never stops it, and records
  ``warm`` / ``runtime`` in its start-up facts. If it cannot connect it starts its own.
* With the ``url`` option automux connects to that cluster instead and never
  shuts it down; it removes the frames it uploads, while the AutoML project's
  models stay there (they are that cluster's to manage).

Budgets: a count budget maps to ``max_models`` (base models; with fewer than
``ENSEMBLE_MIN_TRIALS`` trials stacked ensembles are excluded, otherwise two
trials are kept for them), and DeepLearning is excluded because it is not
reproducible. A seconds budget maps to ``max_runtime_secs`` = the time left when
the search starts (the JVM is up by then), minus a margin for collecting
candidates, saving and predicting; when too little is left, or the cap cancelled
every model, one uncapped GLM is trained instead, inside the run's grace.
Folds reach H2O as a ``fold_column``; each leaderboard model is a candidate (in
the order AutoML started them), scored by automux on its cross-validation
hold-out predictions per fold (a stacked ensemble: its metalearner's, the
estimate H2O itself reports). The chosen candidate is the best by automux's
metric, not necessarily H2O's leader; H2O trains every model on all rows too.
Its cross-validation hold-out predictions are the run's out-of-fold predictions
(``SearchResult.oof``, ``keep_cross_validation_predictions=True``): no refit.

Options (checked in the parent by ``check_options``): ``url`` (an existing
cluster, ``http://HOST:PORT``), ``max_mem_size`` (JVM heap, default 60 % of the
spec's ``--memory`` when set, else ``"1G"``),
``nthreads`` (default 1: repeatable runs), ``include_algos`` / ``exclude_algos``
(H2O algorithm names, a list or comma-separated).
"""
from __future__ import annotations

from .adapter import H2OAdapter, automux_adapters
from .cluster import (
           _SESSION,
           CHILD_PIDS,
           JavaMissing,
           LocalH2O,
           ensure_cluster,
           free_port_pair,
           shutdown,
           start_cluster,
)
from .plan import _automl_settings, parse_options

__all__ = ["H2OAdapter", "automux_adapters", "CHILD_PIDS", "JavaMissing", "LocalH2O", "ensure_cluster",
           "free_port_pair", "parse_options", "shutdown", "start_cluster", "_SESSION", "_automl_settings"]
