"""Fakes for the rebuild check (:mod:`automux.contracts.checks_rebuild`): one that keeps it, ones that break it.

All search like :class:`automux.testing.fakes.GoodFake` (nearest centroids on
numbers, every fold scored with automux's metric); they differ only in the
source their ``candidate_source`` writes. ``BREAKS`` names the check each breaks.
"""
from __future__ import annotations

import dataclasses

import inspect
from typing import Any, Dict, Optional, Tuple

from ..core.adapter import SearchResult, SearchTask
from .fakes import GoodFake, _CENTROID_SOURCE, _encode, centroid_proba, fit_centroids


def centroid_source(params: Dict[str, Any]) -> str:
    """Stand-alone source (numpy and pandas only) of the nearest-centroid model with ``params``."""
    return _CENTROID_SOURCE.format(encode=inspect.getsource(_encode), fit=inspect.getsource(fit_centroids),
                                   proba=inspect.getsource(centroid_proba), params=dict(params))


class RebuildingFake(GoodFake):
    """A fake whose candidates rebuild exactly: the control the rebuild check must pass."""

    name = "rebuilding_fake"
    BREAKS: Tuple[str, ...] = ()

    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        return centroid_source(candidate.params)


class DriftingRebuildFake(RebuildingFake):
    """A broken fake: its source rebuilds another model (``tau`` x 8), so the fold scores drift."""

    name = "drifting_rebuild_fake"
    # a drifting source also rebuilds a chosen model that predicts differently from the returned one,
    # and out-of-fold predictions refit from it do not match the recorded fold scores
    BREAKS = ("check_rebuild_reproduces", "check_chosen_matches_returned_model", "check_oof_never_saw_the_fold")

    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        return centroid_source(dict(candidate.params, tau=float(candidate.params["tau"]) * 8.0,
                                    alpha=min(0.9, float(candidate.params["alpha"]) * 3.0)))


class BackendImportingRebuildFake(RebuildingFake):
    """A broken fake: its source reproduces the scores but imports automux, which a rebuild may not need."""

    name = "backend_importing_rebuild_fake"
    BREAKS = ("check_rebuild_reproduces",)

    def candidate_source(self, candidate: Any, task: str, columns: Dict[str, str], seed: int) -> Optional[str]:
        return "import automux  # noqa: F401\n" + centroid_source(candidate.params)


class RefusingRebuildFake(GoodFake):
    """A fake that declares no rebuild and says why (``rebuild_refusal``): the check skips it."""

    name = "refusing_rebuild_fake"
    BREAKS: Tuple[str, ...] = ()
    rebuild_refusal = "the fake's model is its own nearest-centroid code, kept out of rebuilds on purpose"


REBUILD_FAKES = (RebuildingFake, DriftingRebuildFake, BackendImportingRebuildFake, RefusingRebuildFake)


class InSampleOOFFake(RebuildingFake):
    """A broken fake: it returns as "out-of-fold" predictions its refit-on-all model's in-sample predictions."""

    name = "in_sample_oof_fake"
    BREAKS = ("check_oof_never_saw_the_fold",)

    def search(self, task: SearchTask) -> SearchResult:
        result = super().search(task)
        return dataclasses.replace(result, oof=self.predict(result.model, task.X))
