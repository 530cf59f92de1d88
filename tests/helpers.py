"""Helpers shared by tests: run the CLI as a user would."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, Optional


def run_cli(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m automux ARGS`` and return the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "automux", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def backend_row(name: str, **caps: object) -> Dict[str, object]:
    """An ``automux backends --json`` row for the selector's tests: every task and budget, ``caps`` overriding."""
    base = {"tasks": ["binary", "multiclass", "regression"], "budget_modes": ["trials", "seconds"],
            "deterministic": {"trials": True, "seconds": False}, "produces": "single", "interpretable": False,
            "categorical": False, "missing_values": False, "min_budget": {"trials": 1, "seconds": 5},
            "distributed": None, "strengths": []}
    base.update(caps)
    return {"name": name, "available": True, "reason": None, "env": {"name": "main"}, "capabilities": base}
