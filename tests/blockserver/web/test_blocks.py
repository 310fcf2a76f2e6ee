"""The block server over real HTTP, on each store backend: PUT, GET, HEAD and every refusal.

Each refusal is checked for its status and machine code, and for leaving
nothing behind: the block is not in the store and its row is still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from multidict import CIMultiDict

from protocol import codec, grants
from protocol.errors import SizeMismatch
from protocol.hashing import BLOCK_SIZE, hash_block

from ..conftest import (
    BlockServer,
    Reply,
    random_bytes,
    random_id,
    run_block_server,
    s3_store_for,
    with_settings,
)
from ..instrumented import FailingReadStore, ObservedStore

PUT, GET = grants.PUT, grants.GET

#: for refusals decided before the store is touched: the local backend is enough
local_only = pytest.mark.parametrize("backend", ["local"])


# -- helpers -------------------------------------------------------------------


async def open_raw_put(server: BlockServer, block_id: str, grant: str, length: int, first: bytes):
    """A PUT sent by hand over a socket: the headers and the first part of the body only."""
    url = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        f"PUT /v1/blocks/{block_id} HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        f"Authorization: Bearer {server.token}\r\n"
        f"X-Tessera-Grant: {grant}\r\n"
        f"Content-Length: {length}\r\n"
        "\r\n"
    )
    writer.write(head.encode() + first)
    await writer.drain()
    return reader, writer


async def read_raw_reply(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = CIMultiDict(line.split(": ", 1) for line in lines if line)
    body = await reader.readexactly(int(headers["Content-Length"]))
    return Reply(int(status_line.split()[1]), headers, body)


async def close_raw(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def pending_block(server: BlockServer, size: int = 1000):
    data = random_bytes(size)
    block_id, h = await server.new_block(data)
    return data, block_id, h


# -- the good path ---------------------------------------------------------------


@pytest.mark.parametrize("size", [1, BLOCK_SIZE])
async def test_put_then_get_round_trip(block_server, size):
    data, block_id, h = await pending_block(block_server, size)
    r = await block_server.put(block_id, data, block_server.grant(PUT, block_id, h))
    assert r.status == 200, r.body
    assert r.decoded() == {"block_id": block_id, "state": "stored"}
    assert await block_server.state_of(block_id) == "stored"

    get_grant = block_server.grant(GET, block_id)
    r = await block_server.get(block_id, get_grant)
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert int(r.headers["Content-Length"]) == size
    assert r.body == data

    r = await block_server.get(block_id, get_grant, method="HEAD")
    assert r.status == 200
    assert int(r.headers["Content-Length"]) == size
    assert r.body == b""


@local_only
async def test_grant_in_the_query_string(block_server):
    data, block_id, h = await pending_block(block_server)
    r = await block_server.put(block_id, data, None, params={"grant": block_server.grant(PUT, block_id, h)})
    assert r.status == 200, r.body
    r = await block_server.get(block_id, None, params={"grant": block_server.grant(GET, block_id)})
    assert r.status == 200
    assert r.body == data


@local_only
async def test_block_id_in_any_uuid_spelling(block_server):
    data, block_id, h = await pending_block(block_server)
    dashed = str(uuid.UUID(block_id)).upper()
    r = await block_server.put(dashed, data, block_server.grant(PUT, block_id, h))
    assert r.status == 200, r.body
    assert r.decoded()["block_id"] == block_id


async def test_re_put_of_a_stored_block_is_idempotent_and_does_not_rewrite(block_server):
    data, block_id, h = await pending_block(block_server)
    grant = block_server.grant(PUT, block_id, h)
    assert (await block_server.put(block_id, data, grant)).status == 200
    # same length, other bytes: a rewrite would be refused (hash) or, worse, stored
    r = await block_server.put(block_id, random_bytes(len(data)), grant)
    assert r.status == 200, r.body
    assert r.decoded() == {"block_id": block_id, "state": "stored"}
    r = await block_server.get(block_id, block_server.grant(GET, block_id))
    assert r.body == data


async def test_concurrent_puts_and_gets(block_server):
    blocks = [
        await pending_block(block_server, size) for size in (BLOCK_SIZE, 700_000, 1, 65_537, 300_000, 5)
    ]
    replies = await asyncio.gather(
        *(block_server.put(i, d, block_server.grant(PUT, i, h)) for d, i, h in blocks)
    )
    assert [r.status for r in replies] == [200] * len(blocks)
    replies = await asyncio.gather(*(block_server.get(i, block_server.grant(GET, i)) for _, i, _ in blocks))
    assert [r.body for r in replies] == [d for d, _, _ in blocks]


async def test_puts_beyond_the_concurrency_limit_wait_their_turn(server_config, store, pool):
    config = with_settings(server_config, put_concurrency=2, put_per_user=2)
    observed = ObservedStore(store)
    async for server in run_block_server(config, observed, pool):
        blocks = [await pending_block(server, 600_000) for _ in range(7)]
        replies = await asyncio.gather(*(server.put(i, d, server.grant(PUT, i, h)) for d, i, h in blocks))
        assert [r.status for r in replies] == [200] * 7
        assert observed.most_in_flight == 2
        for _, block_id, _ in blocks:
            assert await store.exists(block_id)


@local_only
async def test_msgpack_answers_when_asked(block_server):
    data, block_id, h = await pending_block(block_server)
    headers = {**block_server.headers(block_server.grant(PUT, block_id, h)), "Accept": codec.MSGPACK}
    r = await block_server.put(block_id, data, None, headers=headers)
    assert r.headers["Content-Type"].startswith(codec.MSGPACK)
    assert codec.unpack(r.body) == {"block_id": block_id, "state": "stored"}
    headers["X-Tessera-Grant"] = "garbage"
    r = await block_server.put(block_id, data, None, headers=headers)
    assert r.status == 403
    assert codec.unpack(r.body)["error"]["code"] == "forbidden"


# -- refused bodies --------------------------------------------------------------


async def test_wrong_md5(block_server):
    data, block_id, h = await pending_block(block_server)
    bad = dataclasses.replace(h, md5=hash_block(b"other").md5)
    r = await block_server.put(block_id, data, block_server.grant(PUT, block_id, bad))
    assert (r.status, r.code) == (400, "hash_mismatch")
    assert r.decoded()["error"]["details"] == {"mismatch": ["md5"]}
    await block_server.assert_not_stored(block_id)


async def test_wrong_sha256(block_server):
    data, block_id, h = await pending_block(block_server)
    bad = dataclasses.replace(h, sha256=hash_block(b"other").sha256)
    r = await block_server.put(block_id, data, block_server.grant(PUT, block_id, bad))
    assert (r.status, r.code) == (400, "hash_mismatch")
    await block_server.assert_not_stored(block_id)


@local_only
async def test_body_shorter_than_the_grant(block_server):
    data, block_id, h = await pending_block(block_server)
    r = await block_server.put(block_id, data[:-1], block_server.grant(PUT, block_id, h))
    assert (r.status, r.code) == (400, "size_mismatch")
    await block_server.assert_not_stored(block_id)


@local_only
async def test_content_length_over_the_grant(block_server):
    data, block_id, h = await pending_block(block_server)
    r = await block_server.put(block_id, data + b"x", block_server.grant(PUT, block_id, h))
    assert (r.status, r.code) == (413, "block_too_large")
    await block_server.assert_not_stored(block_id)


@local_only
async def test_missing_content_length(block_server):
    data, block_id, h = await pending_block(block_server)

    async def chunked() -> AsyncIterator[bytes]:
        yield data

    r = await block_server.put(block_id, chunked(), block_server.grant(PUT, block_id, h))
    assert (r.status, r.code) == (411, "length_required")
    await block_server.assert_not_stored(block_id)


async def test_client_disconnecting_mid_body_leaves_nothing(server_config, store, pool, caplog):
    observed = ObservedStore(store)
    async for server in run_block_server(server_config, observed, pool):
        data, block_id, h = await pending_block(server, BLOCK_SIZE)
        grant = server.grant(PUT, block_id, h)
        _, writer = await open_raw_put(server, block_id, grant, len(data), data[: BLOCK_SIZE // 2])
        await asyncio.sleep(0.1)
        await close_raw(writer)
        outcome = await observed.next_put()
        assert isinstance(outcome, SizeMismatch), outcome  # the body ended early
        await server.assert_not_stored(block_id)
        # and the server is fine afterwards, with nothing to report as an error
        r = await server.put(block_id, data, grant)
        assert r.status == 200
        assert [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR] == []


async def test_a_stalled_body_is_dropped(server_config, store, pool):
    config = with_settings(server_config, put_idle_timeout=0.3)
    async for server in run_block_server(config, store, pool):
        data, block_id, h = await pending_block(server, 100_000)
        reader, writer = await open_raw_put(
            server, block_id, server.grant(PUT, block_id, h), len(data), data[:500]
        )
        try:
            r = await asyncio.wait_for(read_raw_reply(reader), 5)
        finally:
            await close_raw(writer)
        assert (r.status, r.code) == (400, "bad_request")
        await server.assert_not_stored(block_id)


@local_only
async def test_busy_server_answers_503_when_no_slot_frees_up(server_config, store, pool):
    config = with_settings(server_config, put_concurrency=1, put_queue_timeout=0.2)
    async for server in run_block_server(config, store, pool):
        slow_data, slow_id, slow_h = await pending_block(server, 100_000)
        _, writer = await open_raw_put(
            server, slow_id, server.grant(PUT, slow_id, slow_h), len(slow_data), b"x"
        )
        try:
            await asyncio.sleep(0.1)  # the slow upload now holds the only slot
            data, block_id, h = await pending_block(server)
            started = time.monotonic()
            r = await server.put(block_id, data, server.grant(PUT, block_id, h))
            assert (r.status, r.code) == (503, "unavailable")
            assert r.headers["Retry-After"] == "1"
            assert time.monotonic() - started < 2
            await server.assert_not_stored(block_id)
        finally:
            await close_raw(writer)
        r = await server.put(block_id, data, server.grant(PUT, block_id, h))
        assert r.status == 200


async def test_block_collected_during_the_upload(server_config, store, pool):
    async def collect(block_id: str) -> None:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM blocks WHERE id = $1", block_id)

    observed = ObservedStore(store, before_publish=collect)
    async for server in run_block_server(server_config, observed, pool):
        data, block_id, h = await pending_block(server)
        r = await server.put(block_id, data, server.grant(PUT, block_id, h))
        assert (r.status, r.code) == (404, "not_found")
        assert not await store.exists(block_id)


async def test_object_store_down_is_503(server_config, pool, aws_session):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with s3_store_for(f"http://127.0.0.1:{port}", aws_session, max_attempts=1) as dead:
        async for server in run_block_server(server_config, dead, pool):
            data, block_id, h = await pending_block(server)
            r = await server.put(block_id, data, server.grant(PUT, block_id, h))
            assert (r.status, r.code) == (503, "unavailable")
            assert await server.state_of(block_id) == "pending"
            r = await server.get(block_id, server.grant(GET, block_id))
            assert (r.status, r.code) == (503, "unavailable")


@local_only
async def test_put_of_an_unknown_block(block_server):
    data = random_bytes(10)
    block_id = random_id()  # no row: never issued, or already collected
    r = await block_server.put(block_id, data, block_server.grant(PUT, block_id, hash_block(data)))
    assert (r.status, r.code) == (404, "not_found")
    assert not await block_server.store.exists(block_id)


# -- refused grants and tokens ---------------------------------------------------


@local_only
async def test_grant_for_another_block(block_server):
    data, block_id, h = await pending_block(block_server)
    _, other_id, _ = await pending_block(block_server)
    r = await block_server.put(block_id, data, block_server.grant(PUT, other_id, h))
    assert (r.status, r.code) == (403, "forbidden")
    await block_server.assert_not_stored(block_id)


@local_only
async def test_get_grant_used_for_put(block_server):
    data, block_id, h = await pending_block(block_server)
    r = await block_server.put(block_id, data, block_server.grant(GET, block_id, h))
    assert (r.status, r.code) == (403, "forbidden")
    await block_server.assert_not_stored(block_id)


@local_only
async def test_expired_grant(block_server):
    data, block_id, h = await pending_block(block_server)
    r = await block_server.put(block_id, data, block_server.grant(PUT, block_id, h, ttl=-10))
    assert (r.status, r.code) == (403, "grant_expired")
    await block_server.assert_not_stored(block_id)


@local_only
@pytest.mark.parametrize("how", ["other secret", "garbage", "tampered", "empty"])
async def test_forged_grant(block_server, how):
    data, block_id, h = await pending_block(block_server)
    grant = {
        "other secret": block_server.grant(PUT, block_id, h, secret=b"not the server's secret"),
        "garbage": "not-a-grant",
        "tampered": "A" + block_server.grant(PUT, block_id, h)[1:],
        "empty": "",
    }[how]
    r = await block_server.put(block_id, data, grant)
    assert (r.status, r.code) == (403, "forbidden")
    await block_server.assert_not_stored(block_id)


@local_only
async def test_grant_of_another_user(block_server):
    bob_id, _ = await block_server.add_user("bob")
    data = random_bytes(100)
    block_id, h = await block_server.new_block(data, owner_id=bob_id)
    # bob's genuine grant, presented with alice's token
    r = await block_server.put(block_id, data, block_server.grant(PUT, block_id, h, user_id=bob_id))
    assert (r.status, r.code) == (403, "forbidden")
    await block_server.assert_not_stored(block_id)


@local_only
@pytest.mark.parametrize("authorization", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer tsr_unknown"])
async def test_missing_or_unknown_token(block_server, authorization):
    data, block_id, h = await pending_block(block_server)
    headers = {"X-Tessera-Grant": block_server.grant(PUT, block_id, h)}
    if authorization is not None:
        headers["Authorization"] = authorization
    r = await block_server.put(block_id, data, None, headers=headers)
    assert (r.status, r.code) == (401, "unauthorized")
    await block_server.assert_not_stored(block_id)


@local_only
async def test_revoked_token_is_refused_at_once(block_server):
    data, block_id, h = await pending_block(block_server)
    get_grant = block_server.grant(GET, block_id)
    assert (await block_server.put(block_id, data, block_server.grant(PUT, block_id, h))).status == 200
    assert (await block_server.get(block_id, get_grant)).status == 200
    async with block_server.pool.acquire() as conn:
        await conn.execute("UPDATE tokens SET revoked_at = now() WHERE user_id = $1", block_server.user_id)
    r = await block_server.get(block_id, get_grant)
    assert (r.status, r.code) == (401, "signed_out")
    data2, block_id2, h2 = await pending_block(block_server)
    r = await block_server.put(block_id2, data2, block_server.grant(PUT, block_id2, h2))
    assert (r.status, r.code) == (401, "signed_out")
    await block_server.assert_not_stored(block_id2)


@local_only
async def test_bad_block_id_in_the_url(block_server):
    r = await block_server.put("not-a-block", b"x", "whatever")
    assert (r.status, r.code) == (400, "bad_request")


# -- GET and HEAD refusals ---------------------------------------------------------


@local_only
async def test_get_refusals(block_server):
    block_id = await block_server.upload(random_bytes(100))
    other_id = await block_server.upload(random_bytes(100))
    bob_id, _ = await block_server.add_user("bob")
    cases = {
        "no grant": (None, 403, "forbidden"),
        "another block's grant": (block_server.grant(GET, other_id), 403, "forbidden"),
        "a put grant": (block_server.grant(PUT, block_id, hash_block(b"x")), 403, "forbidden"),
        "another user's grant": (block_server.grant(GET, block_id, user_id=bob_id), 403, "forbidden"),
        "an expired grant": (block_server.grant(GET, block_id, ttl=-1), 403, "grant_expired"),
    }
    for what, (grant, status, code) in cases.items():
        for method in ("GET", "HEAD"):
            r = await block_server.get(block_id, grant, method=method)
            assert r.status == status, (what, method)
            if method == "GET":
                assert r.code == code, what
    r = await block_server.get(block_id, block_server.grant(GET, block_id), headers={})
    assert (r.status, r.code) == (401, "unauthorized")


async def test_get_of_an_absent_block(block_server):
    _, block_id, _ = await pending_block(block_server)  # issued, never uploaded
    r = await block_server.get(block_id, block_server.grant(GET, block_id))
    assert (r.status, r.code) == (404, "not_found")
    r = await block_server.get(block_id, block_server.grant(GET, block_id), method="HEAD")
    assert r.status == 404


async def test_store_failing_mid_get_cuts_the_body_short(server_config, store, pool):
    failing = FailingReadStore(store)
    async for server in run_block_server(server_config, failing, pool):
        data = random_bytes(BLOCK_SIZE)
        block_id = await server.upload(data)
        with pytest.raises(aiohttp.ClientPayloadError):
            await server.get(block_id, server.grant(GET, block_id))
        r = await server.get(block_id, server.grant(GET, block_id), method="HEAD")
        assert r.status == 200  # the server carries on


async def test_client_leaving_mid_download_is_no_server_error(block_server, caplog):
    block_id = await block_server.upload(random_bytes(BLOCK_SIZE))
    url = f"{block_server.url}/v1/blocks/{block_id}"
    headers = block_server.headers(block_server.grant(GET, block_id))
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as r:
            assert r.status == 200
            await r.content.readexactly(100_000)
            r.close()  # drop the connection with most of the body unread
    r = await block_server.get(block_id, block_server.grant(GET, block_id))
    assert len(r.body) == BLOCK_SIZE  # the server carries on
    assert [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR] == []
