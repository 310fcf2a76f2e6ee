"""metaserver/core/connections.py: idle, half-sent and trickling connections are closed on every port.

Before: an idle socket, a partial request head or a body sent a byte at a time held its
connection (and, on the block port, a PUT slot) for as long as the client liked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

import aiohttp
import pytest

from metaserver.core.connections import ConnectionLimits
from protocol import grants
from protocol.hashing import hash_block
from tests.conftest import start_site

LIMITS = ConnectionLimits(header_timeout=0.6, idle_timeout=0.8, body_min_rate=1000, body_timeout=0.8, max_per_client=40)
#: how late a close may come: the guard looks every tick (0.15 s here), and the machine is shared
SLACK = 1.0


@dataclass
class Ports:
    meta: int
    block: int
    notify: int
    token: str
    block_put: tuple[str, str, int]  # block id, its put grant, its size


@pytest.fixture
async def ports(server_config, pool):
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user
    from metaserver.keys import NOTIFY_SERVER

    config = replace(server_config, connections=LIMITS)
    block_runner, block_url = await start_site(create_block_app(config))
    meta_app = create_meta_app(replace(config, block_urls=(block_url,)))
    meta_runner, meta_url = await start_site(meta_app)
    try:
        async with pool.acquire() as conn:
            user_id = await create_user(conn, "alice", "pw-alice")
        async with aiohttp.ClientSession() as s:
            async with s.post(meta_url + "/v1/auth/login", json={"user": "alice", "password": "pw-alice"}) as r:
                token = (await r.json())["token"]
        data = b"x" * 5000
        h = hash_block(data)
        block_id = "ab" * 16
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO blocks (id, owner_id, size, md5, sha256) VALUES ($1, $2, $3, $4, $5)",
                block_id, user_id, h.size, bytes.fromhex(h.md5), bytes.fromhex(h.sha256),
            )  # fmt: skip
        grant = grants.sign(grants.Grant(grants.PUT, block_id, user_id, h.size, h.md5, h.sha256, 2**40),
                            config.grant_secret)  # fmt: skip
        yield Ports(_port(meta_url), _port(block_url), meta_app[NOTIFY_SERVER].port, token, (block_id, grant, h.size))
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def _closed_after(port: int, *sends: tuple[float, bytes]) -> float:
    """Open a connection, send each piece after its delay (seconds), and return how long after the
    first send the server closed the connection (whatever it answered first)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()

    async def send() -> None:
        for delay, data in sends:
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while await asyncio.wait_for(reader.read(65536), 30):
            pass
    except ConnectionError:
        pass
    finally:
        sender.cancel()
        writer.close()
    return time.monotonic() - started


async def _health(port: int) -> float:
    started = time.monotonic()
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/v1/health") as r:
        assert r.status in (200, 404)  # the notify endpoint has no health route: 404 is its answer
    return time.monotonic() - started


async def test_idle_half_sent_and_trickling_connections_are_closed_on_every_port(ports, caplog):
    idle = [_closed_after(p) for p in (ports.meta, ports.block, ports.notify)]
    head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"  # and never the blank line
    partial = [_closed_after(p, (0, head), (0.3, b"X-A: 1\r\n"), (0.3, b"X-B: 1\r\n"), (0.3, b"X-C: 1\r\n"))
               for p in (ports.meta, ports.block, ports.notify)]  # fmt: skip
    auth = f"Authorization: Bearer {ports.token}\r\n"
    mkdir = f"POST /v1/files/mkdir HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    block_id, grant, size = ports.block_put
    put = (f"PUT /v1/blocks/{block_id} HTTP/1.1\r\nHost: x\r\n{auth}X-Tessera-Grant: {grant}\r\n"
           f"Content-Length: {size}\r\n\r\n")  # fmt: skip
    drip = [(0.25, b"x")] * 40  # 4 bytes a second, for 10 s
    trickle = [_closed_after(ports.meta, (0, mkdir.encode()), *drip), _closed_after(ports.block, (0, put.encode()), *drip)]
    kept = [_kept_alive_then_closed(p) for p in (ports.meta, ports.block)]
    checks = asyncio.gather(*idle, *partial, *trickle, *kept)
    # meanwhile every port serves other clients at once
    for _ in range(3):
        for p in (ports.meta, ports.block, ports.notify):
            assert await _health(p) < 0.5
        await asyncio.sleep(0.2)
    idle_t, partial_t, trickle_t, kept_t = (lambda r: (r[0:3], r[3:6], r[6:8], r[8:10]))(await checks)
    assert all(t < LIMITS.header_timeout + SLACK for t in idle_t), idle_t
    assert all(0.9 * LIMITS.header_timeout < t < LIMITS.header_timeout + SLACK for t in partial_t), partial_t
    # the body's credit (body_timeout) runs out at 4 B/s against a minimum of 1000 B/s
    assert all(t < LIMITS.body_timeout + 0.3 + SLACK for t in trickle_t), trickle_t
    assert all(0.9 * LIMITS.idle_timeout < t < LIMITS.idle_timeout + SLACK for t in kept_t), kept_t
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


async def _kept_alive_then_closed(port: int) -> float:
    """A kept-alive connection that made one request: closed ``idle_timeout`` after the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1])
        await reader.readexactly(length)
        answered = time.monotonic()
        assert await asyncio.wait_for(reader.read(1), 30) == b""
        return time.monotonic() - answered
    finally:
        writer.close()


async def test_a_body_at_a_decent_rate_is_not_cut_off(ports):
    """A slow but steady body (above the minimum rate) that takes longer than every timeout gets through."""
    block_id, grant, size = ports.block_put
    body = b"x" * size  # 5000 bytes at ~2,500 B/s: 2 s, more than body_timeout

    async def slowly():
        for i in range(0, size, 250):
            await asyncio.sleep(0.1)
            yield body[i : i + 250]

    headers = {"Authorization": f"Bearer {ports.token}", "X-Tessera-Grant": grant, "Content-Length": str(size)}
    async with aiohttp.ClientSession() as s:
        async with s.put(f"http://127.0.0.1:{ports.block}/v1/blocks/{block_id}", data=slowly(), headers=headers) as r:
            assert r.status == 200, await r.text()


async def test_a_held_long_poll_is_not_idle(ports):
    from protocol import codec

    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bearer {ports.token}", "Accept": codec.JSON}
        async with s.get(f"http://127.0.0.1:{ports.meta}/v1/changes/latest_cursor", headers=headers) as r:
            cursor = (await r.json())["cursor"]
        started = time.monotonic()
        poll = s.get(f"http://127.0.0.1:{ports.notify}/v1/changes/longpoll", params={"cursor": cursor, "timeout": 30},
                     headers=headers)  # fmt: skip
        task = asyncio.ensure_future(poll)
        await asyncio.sleep(LIMITS.idle_timeout + LIMITS.header_timeout + SLACK)
        assert not task.done()  # still held, past every timeout
        task.cancel()
        assert time.monotonic() - started > LIMITS.idle_timeout


async def test_connections_per_client_address_are_capped(ports):
    for port in (ports.meta, ports.notify):
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(LIMITS.max_per_client)]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 429") and b"too many connections" in answer
            writer.close()
            held.pop()[1].close()
            await asyncio.sleep(0.1)
            assert await _health(port) < 1  # one slot free again
        finally:
            for _, w in held:
                w.close()
