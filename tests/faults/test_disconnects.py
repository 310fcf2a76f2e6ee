"""Clients that go away mid-request, and handlers that fail mid-answer (metaserver.core.http.error_middleware)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from metaserver.core.http import error_middleware, note_prepared
from protocol.errors import Unavailable
from tests.conftest import start_site


async def _send_and_vanish(url: str, head: bytes, body_part: bytes) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + body_part)
    await writer.drain()
    await asyncio.sleep(0.1)  # let the handler start reading the body
    writer.transport.abort()


async def test_client_gone_mid_body_is_not_a_server_error(servers, server_errors):
    # a login whose body never arrives in full: the handler's read fails with ConnectionResetError
    head = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    for _ in range(3):
        await _send_and_vanish(servers.meta_url, head, b'{"user": "' + b"a" * 5000)
    await asyncio.sleep(0.2)
    assert server_errors() == []
    async with aiohttp.ClientSession() as s, s.get(servers.meta_url + "/v1/health") as r:
        assert r.status == 200  # and the server carries on


def _failing_app(exc: Exception) -> web.Application:
    """One route that starts a 1,000-byte answer, sends 100 bytes of it, then fails."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_type = "application/octet-stream"
        resp.content_length = 1000
        await resp.prepare(request)
        await resp.write(b"x" * 100)
        raise exc

    app = web.Application(middlewares=[error_middleware])
    app.on_response_prepare.append(note_prepared)
    app.router.add_get("/stream", handler)
    return app


@pytest.mark.parametrize("exc", [RuntimeError("boom"), Unavailable("the store went away")], ids=["bug", "domain"])
async def test_failure_after_the_answer_started_closes_the_connection(exc):
    runner, url = await start_site(_failing_app(exc))
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url + "/stream") as r:
            assert r.status == 200
            got = bytearray()
            with pytest.raises(aiohttp.ClientPayloadError):
                async for piece in r.content.iter_any():
                    got += piece
        # a short body, never a second answer written into the first one's body
        assert bytes(got) == b"x" * 100
    finally:
        await runner.cleanup()
