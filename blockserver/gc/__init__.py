"""Garbage collection: deleting the blocks nothing references any more, where it runs.

Each block server runs :func:`run_periodically` (:mod:`.periodic`) against the store it
owns; ``tessera-server gc`` runs :func:`collect` once. A run (:mod:`.collector`) takes four
steps: expire upload sessions (:mod:`.sessions`), mark unreferenced blocks and delete those
marked longer than the grace period (:mod:`.blocks`), sweep the store for orphans
(:mod:`.sweep`); :mod:`.options` says what a run is asked and what it reports.
"""

from .blocks import delete_unreferenced
from .collector import GC_LOCK_ID, collect
from .options import DEFAULT_GRACE, GcOptions, GcReport
from .periodic import DEFAULT_INTERVAL, run_periodically

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_INTERVAL",
    "GC_LOCK_ID",
    "GcOptions",
    "GcReport",
    "collect",
    "delete_unreferenced",
    "run_periodically",
]
