"""Pruning never lets garbage collection take a block that a concurrent commit, restore or open
upload session is about to use (metaserver/lifecycle/pruner.py, blockserver/gc/).

Each round builds a file whose two old versions have passed retention and a deleted file whose
trash item has, then races, with random delays, in one event loop against real servers, a real
PostgreSQL and a real store: the pruner; garbage collection with no grace at all (a block is
deleted the moment it is found unreferenced), twice; uploads of the pruned and purged contents
(which deduplicate onto the blocks about to lose their last reference); a restore of a pruned
version; a restore of the expiring trash item; and an upload session opened on a pruned content
and committed only after garbage collection ran again. Whatever order they land in, everything
that succeeded must read back byte for byte, every block a version or a session references
must have its row and its object, and the usage counters must equal a recount.
"""

from __future__ import annotations

import asyncio
import random

from blockserver import gc
from metaserver.lifecycle.pruner import PruneReport, prune_namespace
from metaserver.tree import usage
from protocol.errors import NotFound
from protocol.hashing import content_hash, hash_block
from tests.blockserver.gc.conftest import Env, data_of, download_equals, objects, write

ROUNDS = 25
NO_GRACE = gc.GcOptions(grace=0, session_slack=0, sweep_store=False)


async def _jitter(rng: random.Random) -> None:
    await asyncio.sleep(rng.choice([0, 0, 0.001, 0.003, 0.01, 0.02, 0.04, 0.08]))


async def _round(env: Env, tmp_path, ns_id: int, n: int, rng: random.Random) -> tuple[bool, bool]:
    x, y, z, w = (data_of(rng.randint(1, 200_000), seed=n * 10 + k) for k in range(4))
    c = env.client
    for data in (x, y, z):
        await c.upload_file(write(tmp_path, "src", data), f"/r{n}/a.bin")
    await c.upload_file(write(tmp_path, "src", w), f"/r{n}/d.bin")
    await c.delete(f"/r{n}/d.bin")
    # versions 1 and 2 of a.bin were replaced 40 days ago (pruned), d.bin was deleted 40 days ago (purged)
    await env.pool.execute("UPDATE versions SET created_at = created_at - interval '40 days' WHERE path = $1", f"/r{n}/a.bin")
    await env.pool.execute("UPDATE trash SET deleted_at = deleted_at - interval '40 days' WHERE path = $1", f"/r{n}/d.bin")
    now = await env.pool.fetchval("SELECT now()")

    async def prune() -> None:
        await _jitter(rng)
        await prune_namespace(env.pool, ns_id, 30, now, PruneReport())

    async def collect() -> None:
        for _ in range(2):
            await _jitter(rng)
            await gc.collect(env.pool, env.store, NO_GRACE)

    async def upload(path: str, data: bytes) -> str:
        await _jitter(rng)
        await c.upload_file(write(tmp_path, f"up-{path.replace('/', '_')}", data), path)
        return path

    async def restore_old() -> bool:
        await _jitter(rng)
        try:
            await c.restore(f"/r{n}/a.bin", version=1)
            return True
        except NotFound:  # pruned first
            return False

    async def untrash() -> bool:
        await _jitter(rng)
        try:
            await c.trash.restore(f"/r{n}/d.bin")
            return True
        except NotFound:  # purged first
            return False

    async def open_session():
        await _jitter(rng)
        h = hash_block(y)
        return await c.create_upload(f"/r{n}/f.bin", len(y), [h], content_hash=content_hash([h.sha256]))

    results = await asyncio.gather(
        prune(), collect(), upload(f"/r{n}/b.bin", x), upload(f"/r{n}/e.bin", w), restore_old(), untrash(),
        open_session(),
    )  # fmt: skip
    restored, untrashed, session = results[4], results[5], results[6]
    await gc.collect(env.pool, env.store, NO_GRACE)  # the session's blocks must survive this
    for b in session.blocks:
        if b.state == "needed" and b.grant:
            await c.put_block(session.block_servers, b.index, b.block_id, b.grant, y)
    await c.commit_upload(session.upload_id)

    assert await download_equals(env, tmp_path, f"/r{n}/b.bin", x)
    assert await download_equals(env, tmp_path, f"/r{n}/e.bin", w)
    assert await download_equals(env, tmp_path, f"/r{n}/f.bin", y)
    assert await download_equals(env, tmp_path, f"/r{n}/a.bin", x if restored else z)
    if untrashed:
        assert await download_equals(env, tmp_path, f"/r{n}/d.bin", w)
    return restored, untrashed


async def _referenced_blocks_are_all_there(env: Env) -> None:
    wanted = set(
        await env.pool.fetchval(
            """SELECT array(SELECT block_id FROM version_blocks
                            UNION SELECT sb.block_id FROM session_blocks sb JOIN blocks b ON b.id = sb.block_id
                                   WHERE b.state = 'stored')"""
        )
    )
    rows = set(await env.pool.fetchval("SELECT array(SELECT id FROM blocks WHERE id = ANY($1::uuid[]))", list(wanted)))
    assert rows == wanted
    assert wanted <= await objects(env)


async def test_pruning_never_takes_a_block_a_commit_restore_or_session_is_about_to_use(env, tmp_path):
    ns_id = await env.pool.fetchval("SELECT id FROM namespaces")
    rng = random.Random(1234)
    outcomes = []
    for n in range(ROUNDS):
        outcomes.append(await _round(env, tmp_path, ns_id, n, rng))
        await _referenced_blocks_are_all_there(env)
        async with env.pool.acquire() as conn:
            assert await usage.of_namespace(conn, ns_id) == await usage.recount(conn, ns_id)
    # the races went both ways (else the test proves little): restores that came first, and late
    assert {restored for restored, _ in outcomes} == {True, False}
    assert {untrashed for _, untrashed in outcomes} == {True, False}
