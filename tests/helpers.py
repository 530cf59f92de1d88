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
