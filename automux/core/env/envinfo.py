"""The environment a backend ran in: interpreter, platform, every package version."""
from __future__ import annotations

import hashlib
import json
import platform
import sys
from typing import Any, Dict


def package_versions() -> Dict[str, str]:
    from importlib.metadata import distributions

    out: Dict[str, str] = {}
    for dist in distributions():
        # setuptools' vendored copies show up once something imports setuptools:
        # they are not the env's packages, and would make the fingerprint unstable.
        if "_vendor" in str(getattr(dist, "_path", "")):
            continue
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name:
            out[name] = dist.version
    return dict(sorted(out.items()))


def describe_env() -> Dict[str, Any]:
    """A JSON description of the running env, with a fingerprint over its packages."""
    packages = package_versions()
    info = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
    }
    body = json.dumps({"python": info["python"], "machine": info["machine"], "packages": packages},
                      sort_keys=True)
    info["fingerprint"] = hashlib.sha256(body.encode()).hexdigest()[:16]
    return info
