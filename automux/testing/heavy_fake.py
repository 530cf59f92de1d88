"""A fake adapter whose module imports its "backend" at import time: breaks import lightness.

``wave`` (a small standard-library module automux never imports) stands in for a
heavy backend library. See ``automux.testing.fakes`` for the other fakes.
"""
from __future__ import annotations

import wave  # noqa: F401 - the point of this fake: a backend imported at module level

from ..core.capabilities import Environment
from .fakes import GoodFake


class HeavyImportFake(GoodFake):
    """Declares ``wave`` as its backend module and imports it with the adapter module."""

    name = "heavy_import_fake"
    environment = Environment(name="main", python=">=3.9", import_names=("wave",))
    BREAKS = ("check_import_is_light",)
