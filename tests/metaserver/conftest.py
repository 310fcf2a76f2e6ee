"""Fixtures for metadata-server tests: the server alone, with a logged-in user and an HTTP helper."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from protocol import codec
from protocol.hashing import BLOCK_SIZE
from tests.conftest import start_site


@dataclass
class Api:
    """A thin msgpack HTTP helper for talking to the metadata server in tests."""

    session: aiohttp.ClientSession
    url: str
    token: str | None = None

    async def call(self, method: str, endpoint: str, body: Any = None, /, *, token: str | None = None, **params):
        headers = {"Accept": codec.MSGPACK}
        tok = token if token is not None else self.token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            headers["Content-Type"] = codec.MSGPACK
            data = codec.pack(body)
        async with self.session.request(method, self.url + endpoint, data=data, headers=headers, params=params) as r:
            raw = await r.read()
            return r.status, (codec.unpack(raw) if raw else None)

    async def ok(self, method: str, endpoint: str, body: Any = None, /, **params):
        status, answer = await self.call(method, endpoint, body, **params)
        assert status == 200, answer
        return answer

    async def error(self, method: str, endpoint: str, body: Any = None, /, **params) -> tuple[int, str]:
        status, answer = await self.call(method, endpoint, body, **params)
        assert status >= 400, answer
        return status, answer["error"]["code"]


def blocks_of(data: bytes) -> list[dict]:
    out = []
    for i in range(0, len(data), BLOCK_SIZE):
        b = data[i : i + BLOCK_SIZE]
        out.append({"size": len(b), "md5": hashlib.md5(b).hexdigest(), "sha256": hashlib.sha256(b).hexdigest()})
    return out


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


@pytest.fixture
async def meta(server_config, pool):
    from dataclasses import replace

    from metaserver.app import create_app

    config = replace(server_config, block_urls=("http://127.0.0.1:9",))
    runner, url = await start_site(create_app(config))
    async with aiohttp.ClientSession() as session:
        yield Api(session, url)
    await runner.cleanup()


@pytest.fixture
async def api(meta, pool):
    """The metadata server with user alice logged in."""
    from metaserver.core.users import create_user

    async with pool.acquire() as conn:
        await create_user(conn, "alice", "pw-alice")
    answer = await meta.ok("POST", "/v1/auth/login", {"user": "alice", "password": "pw-alice", "device": "laptop"})
    meta.token = answer["token"]
    return meta


async def mark_stored(pool, block_ids) -> None:
    """Stand in for the block server's final step (tests of the metadata server alone)."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE blocks SET state = 'stored', stored_at = now() WHERE id = ANY($1::uuid[])", list(block_ids))
