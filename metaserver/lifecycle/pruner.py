"""One pruning run (:func:`prune`): the retention rule (:mod:`.retention`) applied to every namespace.

A run takes a cluster-wide advisory lock (so two never overlap; a run that finds it taken
returns None), then goes through the namespaces in id order, each with its owner's
retention (``users.retention_days``, else the server's):

1. **The trash.** Items deleted ``days`` ago or more are purged, oldest first
   (:func:`metaserver.tree.purge.purge_step`: at most ``batch`` files a transaction).
2. **Versions.** The namespace's versions are read in pages of ``batch`` (by file, then id),
   each with the time the next version of its file was saved, and those the rule does not
   keep are deleted in the same transaction.

Every transaction holds the namespace lock (:meth:`Journal.begin`, which every writer takes)
and changes the usage counters with its deletes, so a commit, a restore or a purge of the
namespace never interleaves with a batch: a restore either copies a version before it is
pruned, or finds it gone. Blocks that lose their last reference become garbage: the
collector deletes them after its grace period, skipping any that an upload session
references by then or that a session being created holds (blockserver/gc/).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from ..core import db
from ..tree import purge, versions
from ..tree.journal import SERVER, Journal
from .retention import DEFAULT_DAYS, keeps, trash_expiry

#: pg_try_advisory_lock key: one pruning run at a time across all processes
PRUNE_LOCK_ID = 0x7E55E8C
#: versions read, and files purged, per transaction
BATCH = 1000
#: namespaces read per query
NAMESPACE_PAGE = 100


@dataclass(slots=True)
class PruneReport:
    """What one run did (or, in a dry run, would do)."""

    dry_run: bool = False
    namespaces: int = 0
    versions_pruned: int = 0
    version_bytes: int = 0
    items_purged: int = 0
    files_purged: int = 0
    #: bytes of blocks that lost their last reference (quotas went down by this)
    bytes_freed: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


async def prune(
    pool: asyncpg.Pool,
    *,
    default_days: int = DEFAULT_DAYS,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
) -> PruneReport | None:
    """One run over every namespace (see the module docstring); None if another one holds the lock.

    ``now``: the time the rule is applied at (default: the database's clock), so tests can
    check the thinning exactly. A dry run counts what would go and changes nothing.
    """
    started = time.monotonic()
    async with db.connection(pool) as lock_conn:
        if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", PRUNE_LOCK_ID):
            return None
        try:
            if now is None:
                now = await lock_conn.fetchval("SELECT now()")
            report = PruneReport(dry_run=dry_run)
            last = 0
            while True:
                async with db.connection(pool) as conn:
                    page = await conn.fetch(
                        """SELECT n.id, u.retention_days FROM namespaces n JOIN users u ON u.id = n.owner_id
                            WHERE n.id > $1 ORDER BY n.id LIMIT $2""",
                        last,
                        NAMESPACE_PAGE,
                    )
                for ns in page:
                    days = ns["retention_days"] or default_days
                    await prune_namespace(pool, ns["id"], days, now, report, batch=batch)
                    report.namespaces += 1
                if len(page) < NAMESPACE_PAGE:
                    break
                last = page[-1]["id"]
            report.seconds = round(time.monotonic() - started, 3)
            return report
        finally:
            with contextlib.suppress(Exception):  # a broken connection releases the lock as it closes
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", PRUNE_LOCK_ID)


async def prune_namespace(
    pool: asyncpg.Pool, ns_id: int, days: int, now: datetime, report: PruneReport, *, batch: int = BATCH
) -> None:
    """Apply the rule to one namespace (steps 1 and 2 of the module docstring)."""
    await _expire_trash(pool, ns_id, days, now, report, batch)
    await _thin_versions(pool, ns_id, days, now, report, batch)


async def _expire_trash(pool: asyncpg.Pool, ns_id: int, days: int, now: datetime, report: PruneReport, batch: int) -> None:
    before = trash_expiry(now, days)
    if report.dry_run:
        async with db.connection(pool) as conn:
            row = await conn.fetchrow(
                """SELECT count(*) AS items, coalesce(sum(files), 0)::bigint AS files FROM trash
                    WHERE ns_id = $1 AND top_id IS NULL AND deleted_at <= $2""",
                ns_id,
                before,
            )
        report.items_purged += row["items"]
        report.files_purged += row["files"]
        return
    item = None
    while True:
        async with db.transaction(pool) as conn:
            j = await Journal.begin(conn, ns_id, SERVER)
            items = await purge.expired_items(conn, ns_id, before, 1)
            if not items:
                return
            step = await purge.purge_step(j, purge.Target(item=items[0]), batch)
            await j.flush()
        if items[0] != item:  # an item may take several steps
            item = items[0]
            report.items_purged += 1
        report.files_purged += step.files
        report.bytes_freed += step.freed_bytes


async def _thin_versions(pool: asyncpg.Pool, ns_id: int, days: int, now: datetime, report: PruneReport, batch: int) -> None:
    after = (0, 0)
    while True:
        async with db.transaction(pool) as conn:
            j = await Journal.begin(conn, ns_id, SERVER)
            rows = await conn.fetch(
                """SELECT v.id, v.file_id, v.size, v.created_at,
                          (SELECT n.created_at FROM versions n
                            WHERE n.ns_id = v.ns_id AND n.file_id = v.file_id AND n.id > v.id
                            ORDER BY n.id LIMIT 1) AS superseded
                     FROM versions v
                    WHERE v.ns_id = $1 AND (v.file_id, v.id) > ($2, $3)
                    ORDER BY v.file_id, v.id LIMIT $4""",
                ns_id,
                *after,
                batch,
            )
            doomed = [r for r in rows if not keeps(r["created_at"], r["superseded"], now, days)]
            if report.dry_run:
                n, size, freed = len(doomed), sum(r["size"] for r in doomed), 0
            else:
                n, size, freed = await versions.delete(conn, ns_id, [r["id"] for r in doomed])
                j.usage.pruned(size, freed)
                await j.flush()
        report.versions_pruned += n
        report.version_bytes += size
        report.bytes_freed += freed
        if len(rows) < batch:
            return
        after = (rows[-1]["file_id"], rows[-1]["id"])
