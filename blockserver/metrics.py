"""The block server's Prometheus series (beside the ones every server has, :mod:`metaserver.core.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from metaserver.core.metrics import Metrics


class BlockMetrics(Metrics):
    """Blocks stored and served, hash mismatches, PUT slots, garbage collection."""

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        self.blocks_stored = Counter("tessera_blocks_stored", "Blocks received, verified and stored", registry=r)
        self.block_bytes_stored = Counter("tessera_block_stored_bytes", "Bytes of the blocks stored", registry=r)
        self.blocks_served = Counter("tessera_blocks_served", "Blocks sent to clients", registry=r)
        self.block_bytes_served = Counter("tessera_block_served_bytes", "Bytes of the blocks sent", registry=r)
        self.mismatches = Counter(
            "tessera_hash_mismatches",
            "Blocks refused because their bytes were not the ones granted (kind: md5, sha256, size)",
            ["kind"],
            registry=r,
        )
        self.put_slots_in_use = Gauge("tessera_put_slots_in_use", "Block PUTs being received now", registry=r)
        self.gc_runs = Counter("tessera_gc_runs", "Garbage collection runs, by result", ["result"], registry=r)
        self.gc_blocks_deleted = Counter("tessera_gc_blocks_deleted", "Unreferenced blocks deleted", registry=r)
        self.gc_bytes_freed = Counter("tessera_gc_freed_bytes", "Bytes of the blocks deleted", registry=r)
        self.gc_sessions_expired = Counter(
            "tessera_gc_sessions_expired", "Upload sessions expired (their block lists pruned)", registry=r
        )
        self.gc_orphans_deleted = Counter(
            "tessera_gc_orphans_deleted", "Objects with no block row (and stale temp files) deleted", registry=r
        )
        self.gc_delete_errors = Counter(
            "tessera_gc_delete_errors", "Object deletions that failed (a later run retries them)", registry=r
        )

    def mismatch(self, code: str, details: dict | None) -> None:
        """Count a refused block body, by its error's code and details: a hash mismatch
        (``details["mismatch"]`` names the digests) or a size mismatch; other errors are not counted."""
        if code == "hash_mismatch":
            kinds = (details or {}).get("mismatch") or ["sha256"]
            for kind in kinds if isinstance(kinds, list) else [kinds]:
                self.mismatches.labels("md5" if kind == "md5" else "sha256").inc()
        elif code in ("size_mismatch", "block_too_large"):
            self.mismatches.labels("size").inc()

    def gc_report(self, report) -> None:
        """One periodic collection's report (None: another process held the lock; an exception: it failed)."""
        if isinstance(report, BaseException):
            self.gc_runs.labels("failed").inc()
            return
        if report is None:
            self.gc_runs.labels("skipped").inc()
            return
        self.gc_runs.labels("ok").inc()
        self.gc_blocks_deleted.inc(report.blocks_deleted)
        self.gc_bytes_freed.inc(report.bytes_freed)
        self.gc_sessions_expired.inc(report.sessions_expired)
        self.gc_orphans_deleted.inc(report.orphans_deleted + report.temp_files_removed)
        self.gc_delete_errors.inc(report.delete_errors)
