"""Step 4 of a garbage collection run: sweep the store for orphan objects and stale temp files."""

from __future__ import annotations

import logging
import time

import asyncpg

from metaserver.core import db

from ..stores.base import BlockStore
from .blocks import delete_objects
from .options import GcOptions, GcReport

log = logging.getLogger(__name__)


async def sweep_store(pool: asyncpg.Pool, store: BlockStore, o: GcOptions, report: GcReport) -> None:
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
    report.orphans_deleted += await delete_objects(store, orphans, report)
