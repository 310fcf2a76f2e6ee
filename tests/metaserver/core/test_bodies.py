"""metaserver/core/bodies.py: a body limit per route, bounded decoding, bounded memory."""

from __future__ import annotations

import asyncio
import json
import struct

import aiohttp
import psutil
import pytest

from metaserver.core.bodies import DEFAULT_LIMIT
from tests.serverproc import server_process

MIB = 1024 * 1024


async def _raw_request(url: str, head: str, body_chunks) -> tuple[int, bytes]:
    """Send a request head, read the answer's status before sending any body (the server answers
    a body announced too large without reading it), then try the body; (status, answer head)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode("latin-1"))
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        for chunk in body_chunks:
            try:
                writer.write(chunk)
                await writer.drain()
            except ConnectionError:
                break
        return int(answer.split(b" ", 2)[1]), answer
    finally:
        writer.close()


async def test_a_64_mib_body_of_empty_maps_to_login_is_413_and_costs_no_memory(database_url, tmp_path):
    """The issue's attack: 0xdd + length + 0x80 x N (an array of N empty maps) to the login route.
    Before: read whole (64 MiB) and decoded into N dicts, gigabytes of RSS."""
    n = 64 * MIB - 5
    async with server_process(database_url, tmp_path / "srv") as srv:
        proc = psutil.Process(srv.pid)
        async with aiohttp.ClientSession() as s:  # warm up: the login route has run once
            async with s.post(srv.meta_url + "/v1/auth/login", json={"user": "x", "password": "y"}) as r:
                assert r.status == 401
        before = proc.memory_info().rss
        body = b"\xdd" + struct.pack(">I", n)
        head = (
            "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
            f"Content-Length: {len(body) + n}\r\n\r\n"
        )
        chunks = [body] + [b"\x80" * MIB] * 64
        status, answer = await _raw_request(srv.meta_url, head, chunks)
        assert status == 413 and b"close" in answer.lower()
        # the same without a Content-Length (chunked): read up to the limit, then refused
        chunked = "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\nTransfer-Encoding: chunked\r\n\r\n"
        frame = b"%x\r\n" % MIB + b"\x80" * MIB + b"\r\n"
        host, port = srv.meta_url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(chunked.encode() + b"%x\r\n" % len(body) + body + b"\r\n")
        try:
            for _ in range(64):
                writer.write(frame)
                await writer.drain()
        except ConnectionError:
            pass
        try:
            answer = await asyncio.wait_for(reader.read(200), 10)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 413")
        except ConnectionError:
            pass  # the server closed with our bytes unread: the kernel may reset before we read the 413
        writer.close()
        await asyncio.sleep(0.5)
        grown = proc.memory_info().rss - before
        assert grown < 20 * MIB, f"the server grew by {grown / MIB:.1f} MiB"
        assert "Traceback" not in srv.log()


async def test_a_route_that_declares_no_limit_takes_the_small_default(api):
    # mkdir declares nothing: 16 KiB, also for a body sent without a length
    path = "/" + "a" * 200
    status, code = await api.error("POST", "/v1/files/mkdir", {"path": path, "pad": "x" * DEFAULT_LIMIT})
    assert (status, code) == (413, "body_too_large")

    async def chunked():
        yield json.dumps({"path": path, "pad": "x" * DEFAULT_LIMIT}).encode()

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api.token}"}
    async with api.session.post(api.url + "/v1/files/mkdir", data=chunked(), headers=headers) as r:
        assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"


async def test_decoding_is_bounded_by_the_route(api):
    # a body far under the upload route's byte limit, but with more values than its share
    status, code = await api.error("POST", "/v1/uploads/commit_batch", {"upload_ids": [[]] * 20_000})
    assert status == 400 and code == "bad_request"  # a list longer than the route takes at once
    nested = {"upload_ids": [[[]] * 1000] * 100}
    status, code = await api.error("POST", "/v1/uploads/commit_batch", nested)
    assert (status, code) == (413, "body_too_large")  # more values than 256 KiB allows
    body = b"[" + b"[]," * 30_000 + b"[]]"
    async with api.session.post(
        api.url + "/v1/uploads/commit_batch", data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api.token}"},
    ) as r:  # fmt: skip
        assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("field", ["user", "password", "device"])
@pytest.mark.parametrize("bad", ["a\x00b", "\\ud800", "x\\udc00y"])
async def test_login_with_nul_or_a_lone_surrogate_is_400(meta, field, bad):
    """Before: NUL reached PostgreSQL and a lone surrogate the UTF-8 encoder: 500 and a traceback."""
    fields = {"user": "alice", "password": "pw", "device": "d"}
    raw = json.dumps(fields).replace(json.dumps(fields[field]), json.dumps(bad).replace("\\\\", "\\"))
    async with meta.session.post(
        meta.url + "/v1/auth/login", data=raw.encode(), headers={"Content-Type": "application/json"}
    ) as r:
        answer = await r.json()
        assert r.status == 400, answer
    if "\\" not in bad:  # msgpack carries NUL too (it cannot carry a surrogate)
        status, code = await meta.error("POST", "/v1/auth/login", {**fields, field: bad})
        assert (status, code) == (400, "bad_request")


async def test_an_escaped_surrogate_pair_is_text_like_any_other(meta):
    raw = b'{"user": "\\ud83d\\ude00", "password": "pw"}'  # one emoji, as ensure_ascii JSON writes it
    async with meta.session.post(
        meta.url + "/v1/auth/login", data=raw, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 401  # decoded fine: just no such user
