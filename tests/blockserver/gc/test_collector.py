"""Garbage collection runs (blockserver/gc/): real servers, real PostgreSQL, real block stores."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import replace

import asyncpg
import pytest

from blockserver import gc
from blockserver.stores.local import LocalStore
from protocol.errors import UploadExpired
from protocol.hashing import BLOCK_SIZE
from tests.blockserver.gc.conftest import (
    Env,
    data_of,
    download_equals,
    expire,
    objects,
    open_session,
    put_blocks,
    put_orphan,
    rows,
    write,
)

NOW = gc.GcOptions(grace=0, session_slack=0)


# -- what is collected, and what never is --------------------------------------------------


async def test_committed_blocks_stay_abandoned_blocks_and_orphans_go(any_env, tmp_path):
    env = any_env
    kept = data_of(2 * BLOCK_SIZE + 100, seed=1)
    committed = await env.client.upload_file(write(tmp_path, "kept", kept), "/kept.bin")
    kept_ids = set(await env.pool.fetchval(
        "SELECT array(SELECT block_id FROM version_blocks WHERE version_id = $1)", committed.metadata.rev
    ))
    # an abandoned upload: one of its two blocks sent, then the session expired
    lost = data_of(BLOCK_SIZE + 10, seed=2)
    abandoned = await open_session(env, "/lost.bin", lost)
    lost_ids = {b.block_id for b in abandoned.blocks}
    await put_blocks(env, abandoned, lost, indexes={0})
    await expire(env, abandoned)
    orphan = await put_orphan(env.store)
    assert kept_ids | {abandoned.blocks[0].block_id, orphan} <= await objects(env)

    report = await gc.collect(env.pool, env.store, NOW)
    assert report is not None
    assert (report.sessions_expired, report.blocks_deleted, report.orphans_deleted) == (1, 2, 1)
    assert report.bytes_freed == len(lost) and report.delete_errors == 0
    assert await rows(env, kept_ids | lost_ids) == kept_ids
    assert (await objects(env)) == kept_ids
    assert await download_equals(env, tmp_path, "/kept.bin", kept)
    with pytest.raises(UploadExpired):  # the session row stays behind as a tombstone
        await env.client.upload_status(abandoned.upload_id)

    again = await gc.collect(env.pool, env.store, NOW)
    assert (again.sessions_expired, again.blocks_deleted, again.orphans_deleted) == (0, 0, 0)
    assert await download_equals(env, tmp_path, "/kept.bin", kept)


async def test_an_expired_session_is_refused_and_its_blocks_collected(short_ttl_env, tmp_path):
    env = short_ttl_env  # upload sessions live one second
    data = data_of(BLOCK_SIZE + 5, seed=3)
    session = await open_session(env, "/slow.bin", data)
    await put_blocks(env, session, data, indexes={0})
    ids = {b.block_id for b in session.blocks}
    await asyncio.sleep(max(0.0, session.expires_at - time.time()) + 0.2)
    with pytest.raises(UploadExpired):
        await env.client.upload_status(session.upload_id)
    with pytest.raises(UploadExpired):
        await env.client.commit_upload(session.upload_id)

    report = await gc.collect(env.pool, env.store, NOW)
    assert report.sessions_expired == 1 and report.blocks_deleted == 2
    assert await rows(env, ids) == set() and await objects(env) == set()
    with pytest.raises(UploadExpired):  # still 410, not 404
        await env.client.upload_status(session.upload_id)


async def test_grace_period_counts_from_when_gc_first_found_the_block_unreferenced(env):
    data = data_of(1000, seed=4)
    session = await open_session(env, "/g.bin", data)
    await put_blocks(env, session, data)
    await expire(env, session)
    (block_id,) = {b.block_id for b in session.blocks}
    hour = gc.GcOptions(grace=3600, session_slack=0)

    dry = await gc.collect(env.pool, env.store, replace(hour, dry_run=True))
    assert dry.dry_run and (dry.sessions_expired, dry.blocks_marked, dry.blocks_deleted) == (1, 1, 0)
    dry0 = await gc.collect(env.pool, env.store, replace(NOW, dry_run=True))
    assert (dry0.blocks_marked, dry0.blocks_deleted, dry0.bytes_freed) == (1, 1, len(data))
    live = await gc.collect(env.pool, env.store, replace(NOW, dry_run=True, session_slack=7200))
    assert (live.sessions_expired, live.blocks_marked, live.blocks_deleted) == (0, 0, 0)
    assert await env.pool.fetchval("SELECT count(*) FROM session_blocks") == 1  # nothing changed
    assert await env.pool.fetchval("SELECT count(*) FROM blocks WHERE unreferenced_since IS NOT NULL") == 0

    first = await gc.collect(env.pool, env.store, hour)
    assert (first.sessions_expired, first.blocks_marked, first.blocks_deleted) == (1, 1, 0)
    second = await gc.collect(env.pool, env.store, hour)
    assert (second.blocks_marked, second.blocks_deleted) == (0, 0)
    assert await rows(env, [block_id]) == {block_id} and block_id in await objects(env)
    dry = await gc.collect(env.pool, env.store, replace(hour, dry_run=True))
    assert dry.blocks_deleted == 0

    # an hour and a bit later
    await env.pool.execute("UPDATE blocks SET unreferenced_since = now() - interval '61 minutes'")
    dry = await gc.collect(env.pool, env.store, replace(hour, dry_run=True))
    assert dry.blocks_deleted == 1 and await rows(env, [block_id]) == {block_id}
    third = await gc.collect(env.pool, env.store, hour)
    assert third.blocks_deleted == 1
    assert await rows(env, [block_id]) == set() and block_id not in await objects(env)


# -- dedup racing the collector ------------------------------------------------------------------


async def _stored_unreferenced_block(env: Env, data: bytes) -> str:
    """A stored block that nothing references any more (its session expired), marked by a GC run."""
    session = await open_session(env, f"/abandoned-{uuid.uuid4().hex[:6]}", data)
    await put_blocks(env, session, data)
    await expire(env, session)
    report = await gc.collect(env.pool, env.store, gc.GcOptions(grace=3600, session_slack=0))
    assert report.blocks_marked == 1
    return session.blocks[0].block_id


async def test_a_block_reused_by_dedup_survives_gc(env, tmp_path):
    data = data_of(3000, seed=5)
    block_id = await _stored_unreferenced_block(env, data)
    # a new upload of the same content re-uses the stored block ...
    session = await open_session(env, "/again.bin", data)
    assert session.needed == 0 and session.blocks[0].block_id == block_id
    # ... so the collector, even with no grace at all, leaves it alone (and unmarks it)
    report = await gc.collect(env.pool, env.store, NOW)
    assert report.blocks_deleted == 0 and report.blocks_unmarked == 1
    await env.client.commit_upload(session.upload_id)
    assert await gc.collect(env.pool, env.store, NOW) is not None
    assert await rows(env, [block_id]) == {block_id} and block_id in await objects(env)
    assert await download_equals(env, tmp_path, "/again.bin", data)


async def _caller(env: Env):
    from metaserver.core.auth import lookup_token
    from metaserver.core.users import home_namespace

    async with env.pool.acquire() as conn:
        caller = await lookup_token(conn, env.token)
        return caller, await home_namespace(conn, caller.user_id)


async def test_gc_skips_a_block_a_session_is_reusing_at_that_moment(env, tmp_path):
    from metaserver.uploads import sessions as uploads
    from protocol.messages.uploads import UploadRequest
    from tests.metaserver.conftest import blocks_of

    data = data_of(2000, seed=6)
    block_id = await _stored_unreferenced_block(env, data)
    caller, ns_id = await _caller(env)
    req = UploadRequest.from_wire({"path": "/race.bin", "size": len(data), "blocks": blocks_of(data)})
    # a session being created, its transaction still open: it holds the block FOR SHARE
    async with env.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            answer = await uploads.create(conn, env.config, caller, ns_id, req)
            assert answer.needed == 0 and answer.blocks[0].block_id == block_id
            # the collector neither waits for it nor deletes the block
            report = await asyncio.wait_for(gc.collect(env.pool, env.store, NOW), 10)
            assert report.blocks_deleted == 0
            assert await rows(env, [block_id]) == {block_id}
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()
    report = await gc.collect(env.pool, env.store, NOW)  # now it sees the session's reference
    assert report.blocks_deleted == 0
    await env.client.commit_upload(answer.upload_id)
    assert await download_equals(env, tmp_path, "/race.bin", data)


async def test_a_session_created_while_gc_deletes_the_block_gets_a_new_one(env, tmp_path):
    data = data_of(2500, seed=7)
    block_id = await _stored_unreferenced_block(env, data)
    await env.pool.execute("UPDATE blocks SET unreferenced_since = now() - interval '2 days'")
    async with env.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            # the collector's delete step, its transaction not committed yet: the row is locked
            assert await gc.delete_unreferenced(conn, [block_id], gc.DEFAULT_GRACE) == [(block_id, len(data))]
            creating = asyncio.create_task(open_session(env, "/new.bin", data))
            await _wait_for_lock_waiter(env.pool, creating)
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()
    await env.store.delete(block_id)  # as the collector does after its commit
    session = await asyncio.wait_for(creating, 10)
    # dedup did not hand out the deleted block: the content needs a new one
    assert session.needed == 1 and session.blocks[0].block_id != block_id
    await put_blocks(env, session, data)
    await env.client.commit_upload(session.upload_id)
    assert await download_equals(env, tmp_path, "/new.bin", data)


async def _wait_for_lock_waiter(pool: asyncpg.Pool, task: asyncio.Task) -> None:
    async with asyncio.timeout(10):
        while not await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            assert not task.done(), task
            await asyncio.sleep(0.02)


# -- the store sweep -----------------------------------------------------------------------------


async def test_old_orphans_and_stale_temp_files_are_swept_young_ones_kept(env):
    store = env.store
    assert isinstance(store, LocalStore)
    old_orphan, young_orphan = await put_orphan(store), await put_orphan(store)
    two_hours_ago = time.time() - 7200
    os.utime(store.path_of(old_orphan), (two_hours_ago, two_hours_ago))
    shard = store.path_of(old_orphan).parent
    old_tmp, young_tmp = shard / f".{old_orphan}.abc123.tmp", shard / f".{young_orphan}.def456.tmp"
    for p in (old_tmp, young_tmp):
        p.write_bytes(b"partial")
    os.utime(old_tmp, (two_hours_ago, two_hours_ago))
    hour = gc.GcOptions(grace=3600)

    dry = await gc.collect(env.pool, store, replace(hour, dry_run=True))
    assert (dry.orphans_deleted, dry.temp_files_removed) == (1, 1)
    assert old_tmp.exists() and old_orphan in await objects(env)

    report = await gc.collect(env.pool, store, hour)
    assert (report.orphans_deleted, report.temp_files_removed, report.store_swept) == (1, 1, True)
    assert await objects(env) == {young_orphan}
    assert not old_tmp.exists() and young_tmp.exists()

    unswept = await gc.collect(env.pool, store, replace(NOW, sweep_store=False))
    assert not unswept.store_swept and await objects(env) == {young_orphan}


# -- running it ------------------------------------------------------------------------------------


async def test_only_one_collector_runs_at_a_time(env):
    conn = await asyncpg.connect(env.config.database_url)
    try:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", gc.GC_LOCK_ID)
        assert await gc.collect(env.pool, env.store, NOW) is None
        await conn.execute("SELECT pg_advisory_unlock($1)", gc.GC_LOCK_ID)
        assert await gc.collect(env.pool, env.store, NOW) is not None
    finally:
        await conn.close()
