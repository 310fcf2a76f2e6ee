"""blockserver/binding.py: a block store is bound to its deployment; no other deployment's servers use it.

Before: `tessera-server gc --grace 0` (or a block server) started without DATABASE_URL got a new,
empty embedded database, took every object of the S3 bucket for an orphan and deleted them all.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace

import pytest

from blockserver.binding import StoreMismatch, bind_store
from blockserver.stores.s3 import S3Store
from metaserver.core import db
from tests.conftest import fresh_database

from .conftest import S3_KEY, S3_REGION, S3_SECRET, body_of, random_id


@pytest.fixture
async def other_pool(pg_template):
    """A second deployment: another migrated database, with a deployment id of its own (the
    template's row would be shared by every copy)."""
    async with fresh_database(pg_template) as dsn:
        pool = await db.create_pool(dsn, min_size=1, max_size=2)
        try:
            await pool.execute("UPDATE deployment SET id = gen_random_uuid()")
            yield pool, dsn
        finally:
            await pool.close()


async def _put_one(store) -> str:
    from protocol.hashing import hash_block

    data = os.urandom(1000)
    block_id = random_id()
    await store.put(block_id, body_of(data), hash_block(data))
    return block_id


async def test_bound_at_first_use_and_refused_by_another_deployment(store, pool, other_pool):
    mine = await bind_store(pool, store)
    assert mine in await store.read_marker()
    assert await bind_store(pool, store) == mine  # again: fine
    block_id = await _put_one(store)
    assert [i async for i in store.list_ids()] == [block_id]  # the marker is never taken for a block
    other, _ = other_pool
    theirs = await other.fetchval("SELECT id FROM deployment")
    with pytest.raises(StoreMismatch) as e:
        await bind_store(other, store)
    assert mine in e.value.message and theirs in e.value.message
    assert await store.exists(block_id)


async def test_an_unmarked_store_with_blocks_is_refused_by_a_database_that_knows_none(store, pool):
    block_id = await _put_one(store)  # a store from before binding, or of another database
    with pytest.raises(StoreMismatch) as e:
        await bind_store(pool, store)
    assert "no deployment marker" in e.value.message
    assert await store.read_marker() is None and await store.exists(block_id)


@pytest.mark.parametrize("backend", ["s3"])
async def test_gc_and_block_server_of_another_deployment_delete_nothing(
    store: S3Store, server_config, pool, other_pool, moto_endpoint
):
    from blockserver.app import create_app
    from tests.conftest import start_site

    s3 = {"s3_bucket": store.bucket, "s3_endpoint": moto_endpoint, "s3_region": S3_REGION,
          "s3_access_key": S3_KEY, "s3_secret_key": S3_SECRET}  # fmt: skip
    await bind_store(pool, store)
    ids = {await _put_one(store) for _ in range(3)}  # orphans to any other database
    other, other_dsn = other_pool
    # a block server against the other database does not start
    config = replace(server_config, database_url=other_dsn, extra={**s3, "gc_interval": 0})
    with pytest.raises(StoreMismatch):
        runner, _ = await start_site(create_app(config))
        await runner.cleanup()
    # and neither does `tessera-server gc --grace 0`
    env = {**os.environ, "DATABASE_URL": other_dsn, "TESSERA_S3_ACCESS_KEY": S3_KEY, "TESSERA_S3_SECRET_KEY": S3_SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metaserver.cli", "gc", "--grace", "0", "--data-dir", str(server_config.data_dir),
        "--s3-endpoint", moto_endpoint, "--s3-bucket", store.bucket, "--s3-region", S3_REGION,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0, out
    assert "belongs to deployment" in err.decode() and "Traceback" not in err.decode()
    assert {i async for i in store.list_ids()} == ids


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("backend", ["s3"])
async def test_a_store_unreachable_at_start_leaves_the_server_live_not_ready_until_it_is_bound(
    store: S3Store, server_config, moto_endpoint
):
    """The two at once: binding (hardening) and live-but-not-ready while S3 is down (operations).
    The block server starts, answers block requests 503 and is not ready; once the store answers,
    it is bound (the marker written) and ready."""
    import socket

    import aiohttp

    from blockserver.app import create_app
    from tests.conftest import start_site

    with socket.socket() as s:  # a port nothing listens on yet: S3 "down"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    s3 = {"s3_bucket": store.bucket, "s3_endpoint": f"http://127.0.0.1:{port}", "s3_region": S3_REGION,
          "s3_access_key": S3_KEY, "s3_secret_key": S3_SECRET, "gc_interval": 0}  # fmt: skip
    runner, url = await start_site(create_app(replace(server_config, extra=s3)))
    proxy = None
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/v1/health/live") as r:
                assert r.status == 200
            async with http.get(url + "/v1/health/ready") as r:
                body = await r.json()
                assert r.status == 503 and "cannot be bound" in body["checks"]["store"], body
            async with http.put(url + "/v1/blocks/" + random_id(), data=b"x") as r:
                assert r.status == 503 and (await r.json())["error"]["code"] == "unavailable"
            assert await store.read_marker() is None
            moto_port = int(moto_endpoint.rsplit(":", 1)[1])

            async def pipe(reader, writer):
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", moto_port)
                await asyncio.gather(_forward(reader, up_writer), _forward(up_reader, writer))

            proxy = await asyncio.start_server(pipe, "127.0.0.1", port)  # S3 is back
            deadline = asyncio.get_running_loop().time() + 40
            while True:
                async with http.get(url + "/v1/health/ready") as r:
                    if r.status == 200:
                        break
                assert asyncio.get_running_loop().time() < deadline, await r.text()
                await asyncio.sleep(0.5)
        assert "tessera deployment" in await store.read_marker()
    finally:
        await runner.cleanup()
        if proxy is not None:
            proxy.close()
