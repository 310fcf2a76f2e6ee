"""Space comes back: a purge lowers the quota's figure at once (a deleted then purged file lets
the user upload again), and garbage collection then deletes the blocks from the store, on
local disk and on S3 (moto)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from blockserver import gc
from metaserver.lifecycle import prune
from protocol.errors import QuotaExceeded
from protocol.hashing import BLOCK_SIZE
from tests.blockserver.gc.conftest import Env, data_of, download_equals, objects, rows, write

NO_GRACE = gc.GcOptions(grace=0, session_slack=0)


async def _block_ids(env: Env, path: str) -> set[str]:
    return set(
        await env.pool.fetchval(
            """SELECT array(SELECT vb.block_id FROM version_blocks vb JOIN versions v ON v.id = vb.version_id
                             WHERE v.path = $1)""",
            path,
        )
    )


async def test_purge_then_gc_frees_the_blocks(any_env, tmp_path):
    env = any_env
    big = data_of(2 * BLOCK_SIZE + 10, seed=21)
    small = data_of(5000, seed=22)
    await env.client.upload_file(write(tmp_path, "big", big), "/Videos/big.bin")
    await env.client.upload_file(write(tmp_path, "small", small), "/keep.bin")
    gone = await _block_ids(env, "/Videos/big.bin")
    kept = await _block_ids(env, "/keep.bin")
    assert len(gone) == 3 and gone | kept <= await objects(env)
    used = (await env.client.usage()).used_bytes
    assert used == len(big) + len(small)

    await env.client.delete("/Videos")
    assert (await env.client.usage()).used_bytes == used  # in the trash: still stored, still counted
    report = await gc.collect(env.pool, env.store, NO_GRACE)
    assert report.blocks_deleted == 0 and gone <= await objects(env)

    done = await env.client.trash.purge("/Videos")
    assert (done.files, done.freed_bytes) == (1, len(big))
    assert (await env.client.usage()).used_bytes == len(small)  # at once, before any collection
    report = await gc.collect(env.pool, env.store, NO_GRACE)
    assert report.blocks_deleted == 3 and report.bytes_freed == len(big)
    assert await rows(env, gone) == set()
    left = await objects(env)
    assert not gone & left and kept <= left
    assert await download_equals(env, tmp_path, "/keep.bin", small)


async def test_pruned_versions_are_collected(any_env, tmp_path):
    env = any_env
    first, second = data_of(BLOCK_SIZE + 1, seed=23), data_of(3000, seed=24)
    await env.client.upload_file(write(tmp_path, "v1", first), "/doc.bin")
    old = await _block_ids(env, "/doc.bin")
    await env.client.upload_file(write(tmp_path, "v2", second), "/doc.bin")
    await env.pool.execute("UPDATE versions SET created_at = created_at - interval '31 days'")
    report = await prune(env.pool)
    assert report.versions_pruned == 1 and report.bytes_freed == len(first)
    assert (await env.client.usage()).used_bytes == len(second)
    await gc.collect(env.pool, env.store, NO_GRACE)
    assert await rows(env, old) == set() and not old & await objects(env)
    assert await download_equals(env, tmp_path, "/doc.bin", second)


async def test_a_deleted_then_purged_file_lets_the_user_upload_again(env, tmp_path):
    await env.pool.execute("UPDATE users SET quota_bytes = $1", 3 * BLOCK_SIZE)
    a = data_of(2 * BLOCK_SIZE, seed=25)
    b = data_of(2 * BLOCK_SIZE, seed=26)
    await env.client.upload_file(write(tmp_path, "a", a), "/a.bin")
    with pytest.raises(QuotaExceeded):
        await env.client.upload_file(write(tmp_path, "b", b), "/b.bin")
    await env.client.delete("/a.bin")
    with pytest.raises(QuotaExceeded):  # the trash still takes the space
        await env.client.upload_file(write(tmp_path, "b", b), "/b.bin")
    await env.client.trash.purge(everything=True)
    assert (await env.client.usage()).used_bytes == 0
    await env.client.upload_file(write(tmp_path, "b", b), "/b.bin")  # right away: no collection needed
    assert (await env.client.account()).used_bytes == len(b)
    # uploading the purged content again counts it again, though its blocks may still be stored
    await env.pool.execute("UPDATE users SET quota_bytes = $1", len(b) + BLOCK_SIZE)
    with pytest.raises(QuotaExceeded):
        await env.client.upload_file(write(tmp_path, "a", a), "/a-again.bin")


async def test_purge_via_the_client_is_retried_safely(env, tmp_path):
    env = replace(env)
    await env.client.upload_file(write(tmp_path, "x", b"x" * 100), "/x.bin")
    await env.client.delete("/x.bin")
    assert (await env.client.trash.purge("/x.bin")).files == 1
    with pytest.raises(Exception, match="nothing at or below /x.bin"):
        await env.client.trash.purge("/x.bin")
