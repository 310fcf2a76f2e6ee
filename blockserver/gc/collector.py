"""One garbage collection run (:func:`collect`): deleting the blocks nothing references any more.

A block is referenced while a committed version lists it (``version_blocks``)
or an upload session does (``session_blocks``). One run, under a cluster-wide
advisory lock so that no two run at once:

1. **Expire upload sessions.** The block lists of committed sessions (their
   version references the blocks now) and of sessions past ``expires_at`` are
   dropped, so their blocks stop being referenced by them. The session row stays
   as a tombstone, so resuming it still answers 410 ``upload_expired`` (and a
   retried commit its version); tombstones go after ``tombstone_age``.
2. **Mark.** Blocks found unreferenced get ``unreferenced_since = now()``;
   marked blocks that are referenced again (re-used by dedup) lose the mark.
3. **Delete.** Marked blocks whose mark is older than the grace period are
   locked ``FOR UPDATE SKIP LOCKED`` (a session being created that re-uses a
   block holds it ``FOR SHARE``, so it is skipped), checked once more to be
   unreferenced, and their rows deleted; only after that commits are their
   objects deleted from the store. A crash in between leaves an orphan object,
   which step 4 finds.
4. **Sweep the store** (optional, it lists every object): objects with no
   block row that are older than the grace period are deleted, and temp files
   of interrupted puts (local disk) older than ``temp_age``.

The grace period runs from the first run that found the block unreferenced: a
download of a version pruned a moment ago, or a put racing a session expiry,
never loses its block under it.
"""

from __future__ import annotations

import contextlib
import time

import asyncpg

from metaserver.core import db

from ..stores.base import BlockStore
from .blocks import delete_blocks, mark
from .options import GcOptions, GcReport
from .sessions import expire_sessions, release_committed, remove_tombstones
from .sweep import sweep_store

#: pg_try_advisory_lock key: one garbage collection at a time across all processes
GC_LOCK_ID = 0x7E55E8B


async def collect(pool: asyncpg.Pool, store: BlockStore | None, options: GcOptions = GcOptions()) -> GcReport | None:
    """One garbage collection run; None if another one holds the lock.

    Without ``store`` (or with ``dry_run``) no object is touched. Database
    outages raise ``Unavailable``; store failures on single objects are counted,
    not raised.
    """
    started = time.monotonic()
    async with db.connection(pool) as lock_conn:
        if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", GC_LOCK_ID):
            return None
        try:
            report = GcReport(dry_run=options.dry_run)
            await release_committed(pool, options, report)
            await expire_sessions(pool, options, report)
            await remove_tombstones(pool, options, report)
            await mark(pool, options, report)
            await delete_blocks(pool, store, options, report)
            if store is not None and options.sweep_store:
                await sweep_store(pool, store, options, report)
            report.seconds = round(time.monotonic() - started, 3)
            return report
        finally:
            # if this fails (outage, cancellation mid-query), the pool resets or closes the
            # connection, which releases the session's advisory locks as well
            with contextlib.suppress(Exception):
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", GC_LOCK_ID)
