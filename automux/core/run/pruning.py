"""Deleting and pruning stored runs: what goes, and how many bytes that frees.

Deleting goes through :meth:`RunStore.delete`, so stored data another run still
uses is never removed.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import RunNotFound, SpecError
from .store import RunStore, validate_run_id


def tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it is gone)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def delete_runs(store: RunStore, run_ids: Sequence[str], dry_run: bool = False) -> Dict[str, Any]:
    """Delete ``run_ids`` (all checked first), then unused data; ``{deleted, data_removed, bytes_freed}``."""
    ids = list(dict.fromkeys(validate_run_id(r) for r in run_ids))
    for r in ids:
        if not store.run_dir(r).is_dir():
            raise RunNotFound(f"no run {r!r} in the store {store.root} (see `automux runs list`)")
    if dry_run:
        return {"deleted": ids, "data_removed": [], "dry_run": True,
                "bytes_freed": sum(tree_bytes(store.run_dir(r)) for r in ids)}
    before = tree_bytes(store.root)
    removed: List[str] = []
    for r in ids:
        removed += store.delete(r)
    return {"deleted": ids, "data_removed": removed, "dry_run": False,
            "bytes_freed": max(0, before - tree_bytes(store.root))}


def prune(store: RunStore, *, keep_last: Optional[int] = None, status: Optional[Sequence[str]] = None,
          older_than_days: Optional[float] = None, dry_run: bool = False) -> Dict[str, Any]:
    """Delete the runs that every given rule selects; promoted runs are never pruned."""
    if keep_last is None and not status and older_than_days is None:
        raise SpecError("prune needs a rule: --keep-last N, --status failed,... or --older-than DAYS")
    if keep_last is not None and keep_last < 0:
        raise SpecError(f"--keep-last {keep_last}: give 0 or more runs to keep")
    if older_than_days is not None and older_than_days < 0:
        raise SpecError(f"--older-than {older_than_days}: give 0 or more days")
    rows = store.list()  # oldest first
    chosen = rows[:max(0, len(rows) - keep_last)] if keep_last is not None else rows
    if status:
        chosen = [r for r in chosen if r["status"] in set(status)]
    if older_than_days is not None:
        cutoff = datetime.now(timezone.utc) - timedelta(days=older_than_days)
        chosen = [r for r in chosen if _created(r["created_utc"]) < cutoff]
    promoted = {r["run_id"] for r in store.list(promoted=True)}
    ids = [r["run_id"] for r in chosen if r["run_id"] not in promoted]
    return delete_runs(store, ids, dry_run=dry_run)


def _created(stamp: str) -> datetime:
    t = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
