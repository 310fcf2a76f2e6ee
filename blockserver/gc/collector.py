"""Garbage collection: deleting the blocks nothing references any more.

A block is referenced while a committed version lists it (``version_blocks``)
or an upload session does (``session_blocks``). One run, under a cluster-wide
advisory lock so that no two run at once:

1. **Expire upload sessions.** The block lists of sessions past ``expires_at``
   (open or committed) are dropped, so their blocks stop being referenced. The
   session row stays as a tombstone, so resuming it still answers 410
   ``upload_expired``; tombstones go after ``tombstone_age``.
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

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import asyncpg

from metaserver.core import db
from protocol.errors import TesseraError

if TYPE_CHECKING:
    from blockserver.stores.base import BlockStore

log = logging.getLogger(__name__)

#: pg_try_advisory_lock key: one garbage collection at a time across all processes
GC_LOCK_ID = 0x7E55E8B
DEFAULT_GRACE = 24 * 3600.0
DEFAULT_INTERVAL = 3600.0
#: expired session rows are kept this long, so resuming one answers 410, not 404
DEFAULT_TOMBSTONE_AGE = 7 * 24 * 3600.0
#: sessions expire this long after ``expires_at`` (the metadata servers' clocks may differ from the database's)
DEFAULT_SESSION_SLACK = 300.0
#: temp files untouched for this long are left over from a crash (a live put writes at least every minute)
MIN_TEMP_AGE = 3600.0
#: rows handled per transaction
BATCH = 1000
SESSION_BATCH = 100
#: object deletions in flight at once
DELETE_CONCURRENCY = 16

_REFERENCED = """(EXISTS (SELECT 1 FROM version_blocks vb WHERE vb.block_id = b.id)
              OR EXISTS (SELECT 1 FROM session_blocks sb WHERE sb.block_id = b.id))"""
#: the same, as it will be once step 1 has run: sessions expired by then do not count (dry runs)
_REFERENCED_AFTER_EXPIRY = """(EXISTS (SELECT 1 FROM version_blocks vb WHERE vb.block_id = b.id)
              OR EXISTS (SELECT 1 FROM session_blocks sb JOIN upload_sessions s ON s.id = sb.session_id
                          WHERE sb.block_id = b.id AND s.expires_at >= now() - make_interval(secs => $2)))"""
_NIL_ID = "0" * 32


@dataclass(frozen=True, slots=True)
class GcOptions:
    #: seconds a block must stay unreferenced (an object without a row: old) before it is deleted
    grace: float = DEFAULT_GRACE
    #: count what would be done, change nothing
    dry_run: bool = False
    #: also list the whole store for orphan objects and stale temp files
    sweep_store: bool = True
    session_slack: float = DEFAULT_SESSION_SLACK
    tombstone_age: float = DEFAULT_TOMBSTONE_AGE
    #: None: max(grace, MIN_TEMP_AGE)
    temp_age: float | None = None
    batch: int = BATCH

    @property
    def effective_temp_age(self) -> float:
        return self.temp_age if self.temp_age is not None else max(self.grace, MIN_TEMP_AGE)


@dataclass(slots=True)
class GcReport:
    """What one run did (or, in a dry run, would do)."""

    dry_run: bool = False
    sessions_expired: int = 0
    sessions_removed: int = 0
    blocks_marked: int = 0
    blocks_unmarked: int = 0
    blocks_deleted: int = 0
    bytes_freed: int = 0
    orphans_deleted: int = 0
    temp_files_removed: int = 0
    #: object deletions that failed (the objects are orphans now; a later sweep retries)
    delete_errors: int = 0
    store_swept: bool = False
    seconds: float = 0.0
    #: ids whose rows were deleted (first few, for logs and tests)
    deleted_ids: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("deleted_ids")
        return d


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
            await _expire_sessions(pool, options, report)
            await _remove_tombstones(pool, options, report)
            await _mark(pool, options, report)
            await _delete_blocks(pool, store, options, report)
            if store is not None and options.sweep_store:
                await _sweep_store(pool, store, options, report)
            report.seconds = round(time.monotonic() - started, 3)
            return report
        finally:
            # if this fails (outage, cancellation mid-query), the pool resets or closes the
            # connection, which releases the session's advisory locks as well
            with contextlib.suppress(Exception):
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", GC_LOCK_ID)


# -- 1. sessions ------------------------------------------------------------------------


async def _expire_sessions(pool: asyncpg.Pool, o: GcOptions, report: GcReport) -> None:
    expired = """upload_sessions s WHERE s.expires_at < now() - make_interval(secs => $1)
                   AND EXISTS (SELECT 1 FROM session_blocks sb WHERE sb.session_id = s.id)"""
    if o.dry_run:
        async with db.connection(pool) as conn:
            report.sessions_expired = await conn.fetchval(f"SELECT count(*) FROM {expired}", o.session_slack)
        return
    while True:
        async with db.transaction(pool) as conn:
            # FOR UPDATE: a commit of the session holds it FOR UPDATE while it copies the block list
            ids = await conn.fetchval(
                f"SELECT array(SELECT s.id FROM {expired} LIMIT $2 FOR UPDATE OF s SKIP LOCKED)",
                o.session_slack,
                SESSION_BATCH,
            )
            if ids:
                await conn.execute("DELETE FROM session_blocks WHERE session_id = ANY($1::uuid[])", ids)
        report.sessions_expired += len(ids)
        if len(ids) < SESSION_BATCH:
            return


async def _remove_tombstones(pool: asyncpg.Pool, o: GcOptions, report: GcReport) -> None:
    old = "upload_sessions WHERE expires_at < now() - make_interval(secs => $1)"
    if o.dry_run:
        async with db.connection(pool) as conn:
            report.sessions_removed = await conn.fetchval(f"SELECT count(*) FROM {old}", o.tombstone_age)
        return
    while True:
        async with db.transaction(pool) as conn:
            status = await conn.execute(
                f"DELETE FROM upload_sessions WHERE id IN (SELECT id FROM {old} LIMIT $2 FOR UPDATE SKIP LOCKED)",
                o.tombstone_age,
                o.batch,
            )
        n = int(status.split()[-1])
        report.sessions_removed += n
        if n < o.batch:
            return


# -- 2. mark ---------------------------------------------------------------------------


async def _mark(pool: asyncpg.Pool, o: GcOptions, report: GcReport) -> None:
    if not o.dry_run:
        async with db.transaction(pool) as conn:
            status = await conn.execute(
                f"""UPDATE blocks SET unreferenced_since = NULL
                     WHERE id IN (SELECT b.id FROM blocks b
                                   WHERE b.unreferenced_since IS NOT NULL AND {_REFERENCED}
                                   FOR UPDATE OF b SKIP LOCKED)"""
            )
        report.blocks_unmarked = int(status.split()[-1])
    last = _NIL_ID
    while True:  # keyset pages over every block: short transactions, any table size
        async with db.connection(pool) as conn:
            page = await conn.fetchval(
                "SELECT array(SELECT id FROM blocks WHERE id > $1::uuid ORDER BY id LIMIT $2)", last, o.batch * 5
            )
        if not page:
            return
        last = page[-1]
        if o.dry_run:
            async with db.connection(pool) as conn:
                report.blocks_marked += await conn.fetchval(
                    f"""SELECT count(*) FROM blocks b
                         WHERE b.id = ANY($1::uuid[]) AND b.unreferenced_since IS NULL
                           AND NOT {_REFERENCED_AFTER_EXPIRY}""",
                    page,
                    o.session_slack,
                )
            continue
        async with db.transaction(pool) as conn:
            status = await conn.execute(
                f"""UPDATE blocks SET unreferenced_since = now()
                     WHERE id IN (SELECT b.id FROM blocks b
                                   WHERE b.id = ANY($1::uuid[]) AND b.unreferenced_since IS NULL
                                     AND NOT {_REFERENCED}
                                   FOR UPDATE OF b SKIP LOCKED)""",
                page,
            )
        report.blocks_marked += int(status.split()[-1])


# -- 3. delete -------------------------------------------------------------------------


async def _delete_blocks(pool: asyncpg.Pool, store: BlockStore | None, o: GcOptions, report: GcReport) -> None:
    if o.dry_run:
        async with db.connection(pool) as conn:
            row = await conn.fetchrow(
                f"""SELECT count(*) AS n, coalesce(sum(b.size), 0) AS bytes FROM blocks b
                     WHERE coalesce(b.unreferenced_since, now()) <= now() - make_interval(secs => $1)
                       AND NOT {_REFERENCED_AFTER_EXPIRY}""",
                o.grace,
                o.session_slack,
            )
        report.blocks_deleted, report.bytes_freed = row["n"], row["bytes"]
        return
    last = _NIL_ID
    while True:
        async with db.connection(pool) as conn:
            candidates = await conn.fetchval(
                """SELECT array(SELECT id FROM blocks
                                 WHERE unreferenced_since IS NOT NULL AND id > $1::uuid
                                   AND unreferenced_since <= now() - make_interval(secs => $2)
                                 ORDER BY id LIMIT $3)""",
                last,
                o.grace,
                o.batch,
            )
        if not candidates:
            return
        last = candidates[-1]
        async with db.transaction(pool) as conn:
            deleted = await delete_unreferenced(conn, candidates, o.grace)
        report.blocks_deleted += len(deleted)
        report.bytes_freed += sum(size for _, size in deleted)
        report.deleted_ids.extend(block_id for block_id, _ in deleted[: max(0, 100 - len(report.deleted_ids))])
        if store is not None:
            await _delete_objects(store, [block_id for block_id, _ in deleted], report)


async def delete_unreferenced(conn: asyncpg.Connection, block_ids: list[str], grace: float) -> list[tuple[str, int]]:
    """Delete the rows of those blocks that are unreferenced and marked longer than ``grace`` ago.

    Run inside a transaction; returns (id, size) of the rows deleted. Rows
    another transaction holds (a session re-using the block, FOR SHARE) are
    skipped; rows found referenced once locked lose their mark. The caller
    deletes the objects after the transaction commits.
    """
    locked = await conn.fetchval(
        """SELECT array(SELECT id FROM blocks
                         WHERE id = ANY($1::uuid[]) AND unreferenced_since <= now() - make_interval(secs => $2)
                         FOR UPDATE SKIP LOCKED)""",
        block_ids,
        grace,
    )
    if not locked:
        return []
    # a new statement, so a new snapshot: it sees every reference committed before our lock
    rows = await conn.fetch(
        f"DELETE FROM blocks b WHERE b.id = ANY($1::uuid[]) AND NOT {_REFERENCED} RETURNING b.id, b.size",
        locked,
    )
    deleted = [(r["id"], r["size"]) for r in rows]
    if len(deleted) < len(locked):
        await conn.execute(
            "UPDATE blocks SET unreferenced_since = NULL WHERE id = ANY($1::uuid[]) AND NOT id = ANY($2::uuid[])",
            locked,
            [block_id for block_id, _ in deleted],
        )
    return deleted


async def _delete_objects(store: BlockStore, block_ids: Iterable[str], report: GcReport) -> int:
    """Delete objects, a few at once; failures are logged and counted (they stay orphans)."""
    slots = asyncio.Semaphore(DELETE_CONCURRENCY)
    done = 0

    async def one(block_id: str) -> None:
        nonlocal done
        async with slots:
            try:
                await store.delete(block_id)
                done += 1
            except (TesseraError, OSError) as e:
                report.delete_errors += 1
                log.warning("gc: cannot delete object %s from %r: %s", block_id, store, e)

    async with asyncio.TaskGroup() as tg:
        for block_id in block_ids:
            tg.create_task(one(block_id))
    return done


# -- 4. sweep the store ------------------------------------------------------------------


async def _sweep_store(pool: asyncpg.Pool, store: BlockStore, o: GcOptions, report: GcReport) -> None:
    cutoff = time.time() - o.grace
    old: list[str] = []
    try:
        async for obj in store.list_objects():
            if obj.modified <= cutoff:
                old.append(obj.block_id)
            if len(old) >= o.batch:
                await _delete_orphans(pool, store, old, o, report)
                old = []
        if old:
            await _delete_orphans(pool, store, old, o, report)
    except NotImplementedError as e:
        log.warning("gc: orphan objects not swept: %s", e)
        return
    report.temp_files_removed = await store.sweep_temp(o.effective_temp_age, dry_run=o.dry_run)
    report.store_swept = True


async def _delete_orphans(pool: asyncpg.Pool, store: BlockStore, ids: list[str], o: GcOptions, report: GcReport) -> None:
    # an object is written only after its row exists, and ids are never re-issued:
    # an old object whose row is gone will never be wanted again
    async with db.connection(pool) as conn:
        known = set(await conn.fetchval("SELECT array(SELECT id FROM blocks WHERE id = ANY($1::uuid[]))", ids))
    orphans = [block_id for block_id in ids if block_id not in known]
    if not orphans:
        return
    if o.dry_run:
        report.orphans_deleted += len(orphans)
        return
    log.info("gc: deleting %d orphan objects", len(orphans))
    report.orphans_deleted += await _delete_objects(store, orphans, report)


# -- the periodic task ----------------------------------------------------------------------


#: the first run comes this long (at most) after start, later ones every interval
FIRST_RUN_DELAY = 300.0
#: the store (every object) is listed at most this often by the periodic task
STORE_SWEEP_INTERVAL = 24 * 3600.0


async def run_periodically(
    pool: asyncpg.Pool,
    store: BlockStore,
    *,
    interval: float,
    grace: float,
    sweep_interval: float = STORE_SWEEP_INTERVAL,
) -> None:
    """Collect every ``interval`` seconds (with jitter) until cancelled; never raises otherwise.

    Several processes may run this: the advisory lock lets one collect at a
    time, the others skip their turn. The store is swept on the first run and
    then at most every ``sweep_interval`` seconds, as listing it costs one
    request per 1,000 objects on S3.
    """
    import random

    last_sweep: float | None = None
    delay = min(interval, FIRST_RUN_DELAY)
    while True:
        await asyncio.sleep(delay * random.uniform(0.75, 1.0))
        delay = interval
        now = time.monotonic()
        sweep = last_sweep is None or now - last_sweep >= sweep_interval
        try:
            report = await collect(pool, store, GcOptions(grace=grace, sweep_store=sweep))
        except TesseraError as e:
            log.warning("gc: run failed: %s", e.message)
            continue
        except Exception:
            log.exception("gc: run failed")
            continue
        if report is None:
            log.debug("gc: another process is collecting; skipped")
            continue
        if report.store_swept:
            last_sweep = now
        log.info("gc: %s", " ".join(f"{k}={v}" for k, v in report.as_dict().items() if k != "dry_run"))
