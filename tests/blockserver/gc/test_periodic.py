"""The block server's periodic garbage collection (blockserver/gc/periodic.py)."""

from __future__ import annotations

from dataclasses import replace

from tests.blockserver.gc.conftest import data_of, expire, objects, open_session, put_blocks, rows
from tests.conftest import eventually, start_site


async def test_block_server_collects_periodically(env):
    from blockserver.app import create_app as create_block_app

    data = data_of(1234, seed=8)
    session = await open_session(env, "/p.bin", data)
    await put_blocks(env, session, data)
    await expire(env, session)  # an hour ago: past the collector's clock slack too
    block_id = session.blocks[0].block_id

    async def collected() -> bool:
        return not await rows(env, [block_id]) and block_id not in await objects(env)

    # a second block server process, collecting every 0.3 s with no grace
    config = replace(env.config, extra={"gc_interval": "0.3", "gc_grace": "0"})
    runner, _ = await start_site(create_block_app(config, store=env.store))
    try:
        await eventually(collected, "the periodic collector to delete the block")
    finally:
        await runner.cleanup()
