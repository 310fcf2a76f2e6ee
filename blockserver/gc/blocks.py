"""Steps 2 and 3 of a garbage collection run: mark unreferenced blocks, delete those marked
longer than the grace period (rows first, then their objects)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import asyncpg

from metaserver.core import db
from protocol.errors import TesseraError

from ..stores.base import BlockStore
from .options import GcOptions, GcReport

log = logging.getLogger(__name__)

#: object deletions in flight at once
DELETE_CONCURRENCY = 16

_REFERENCED = """(EXISTS (SELECT 1 FROM version_blocks vb WHERE vb.block_id = b.id)
              OR EXISTS (SELECT 1 FROM session_blocks sb WHERE sb.block_id = b.id))"""
#: the same, as it will be once step 1 has run: sessions expired by then do not count (dry runs)
_REFERENCED_AFTER_EXPIRY = """(EXISTS (SELECT 1 FROM version_blocks vb WHERE vb.block_id = b.id)
              OR EXISTS (SELECT 1 FROM session_blocks sb JOIN upload_sessions s ON s.id = sb.session_id
                          WHERE sb.block_id = b.id AND s.expires_at >= now() - make_interval(secs => $2)))"""
_NIL_ID = "0" * 32


async def mark(pool: asyncpg.Pool, o: GcOptions, report: GcReport) -> None:
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


async def delete_blocks(pool: asyncpg.Pool, store: BlockStore | None, o: GcOptions, report: GcReport) -> None:
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
            await delete_objects(store, [block_id for block_id, _ in deleted], report)


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


async def delete_objects(store: BlockStore, block_ids: Iterable[str], report: GcReport) -> int:
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
