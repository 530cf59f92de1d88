"""Backend environments, one module per job.

``home`` (``$AUTOMUX_HOME`` and its folders), ``recipe`` (what an env is built from, its key),
``lock`` (locks: committed, local, resolved), ``interpreters`` (finding a Python for a recipe),
``build`` (building an env from its lock), ``cache`` (built envs: find, list, remove),
``worker_code`` (the parent's automux and plugin code on a worker's path), ``handshake`` (the
worker's side) and ``handshake_check`` (the parent's), ``worker_env`` (``prepare_worker``: the
env a job runs in, checked), ``table`` (``env list``), ``envinfo`` (describing the running env),
``errors``.
"""
