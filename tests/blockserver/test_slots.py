"""blockserver/slots.py: no user holds more than a fair share of the PUT slots.

Before: 32 PUTs of one user, each sending a byte, took every slot, and another user's PUT
waited for the queue timeout and got 503.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from protocol import grants

from .conftest import run_block_server, with_settings
from .web.test_blocks import close_raw, open_raw_put, pending_block


@pytest.mark.parametrize("backend", ["local"])
async def test_one_user_trickling_every_slot_does_not_hold_up_another(server_config, store, pool):
    config = with_settings(server_config, put_queue_timeout=3)  # 32 slots, 8 a user: the defaults
    async for server in run_block_server(config, store, pool):
        writers = []
        try:
            for _ in range(32):  # alice: 32 uploads that send one byte and then nothing
                _, block_id, h = await pending_block(server, 100_000)
                _, writer = await open_raw_put(server, block_id, server.grant(grants.PUT, block_id, h), h.size, b"x")
                writers.append(writer)
            await asyncio.sleep(0.3)
            bob_id, bob_token = await server.add_user("bob")
            data = b"b" * 1_000_000
            block_id, h = await server.new_block(data, owner_id=bob_id)
            grant = server.grant(grants.PUT, block_id, h, user_id=bob_id)
            started = time.monotonic()
            r = await server.put(block_id, data, grant, headers=server.headers(grant, bob_token))
            assert r.status == 200, r.body
            assert time.monotonic() - started < 1.5  # no wait for a slot
            # and alice's own further uploads wait for her share, then 503: not a slot of anyone else's
            data, block_id, h = await pending_block(server, 1000)
            r = await server.put(block_id, data, server.grant(grants.PUT, block_id, h))
            assert (r.status, r.code) == (503, "unavailable")
        finally:
            for w in writers:
                await close_raw(w)
