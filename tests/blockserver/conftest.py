"""Fixtures for block server tests.

- ``store``: a started block store, once per backend: LocalStore on tmp_path
  and S3Store against moto's S3 server running for real on 127.0.0.1.
- ``block_server``: the block server alone (real HTTP on an ephemeral port,
  real PostgreSQL) over that store, with a user, a token and helpers to
  create block rows and sign grants as the metadata server would.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from blockserver.app import create_app
from blockserver.stores.base import BlockStore
from blockserver.stores.local import LocalStore
from blockserver.stores.s3 import S3Store
from metaserver.core.auth import hash_token, new_token
from metaserver.core.settings import ServerSettings
from protocol import codec, grants
from protocol.hashing import BlockHash, hash_block
from tests.conftest import start_site

S3_REGION = "us-east-1"
S3_KEY, S3_SECRET = "testing-access-key", "testing-secret-key"


@pytest.fixture(scope="session")
def aws_session() -> Any:
    """One aiobotocore session for all tests: loading the S3 model once saves ~0.1 s a store."""
    from aiobotocore.session import get_session

    return get_session()


def s3_store_for(endpoint: str, session: Any = None, **kw: Any) -> S3Store:
    """An S3Store on moto with a bucket of its own (create it after start())."""
    return S3Store(
        kw.pop("bucket", f"blocks-{uuid.uuid4().hex[:12]}"),
        session=session,
        endpoint_url=endpoint,
        region=S3_REGION,
        access_key=S3_KEY,
        secret_key=S3_SECRET,
        **kw,
    )


async def create_bucket(store: S3Store) -> None:
    await store.client.create_bucket(Bucket=store.bucket)


@pytest.fixture(params=["local", "s3"])
def backend(request) -> str:
    return request.param


@pytest.fixture
async def store(backend, tmp_path, request) -> AsyncIterator[BlockStore]:
    """A started block store of each backend, empty."""
    if backend == "local":
        s: BlockStore = LocalStore(tmp_path / "blocks")
        async with s:
            yield s
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        s3 = s3_store_for(endpoint, request.getfixturevalue("aws_session"))
        async with s3:
            await create_bucket(s3)
            yield s3


def random_id() -> str:
    return uuid.uuid4().hex


async def body_of(*pieces: bytes) -> AsyncIterator[bytes]:
    for p in pieces:
        yield p


async def read_all(store: BlockStore, block_id: str) -> bytes:
    size, stream = await store.open(block_id)
    async with stream:
        data = b"".join([piece async for piece in stream])
    assert len(data) == size
    return data


def stored_files(root: Path) -> list[str]:
    """Every file under a LocalStore root (blocks and any leftover temp file), relative."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- the block server over HTTP ------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def decoded(self) -> Any:
        ctype = codec.media_type(self.headers.get("Content-Type"))
        return codec.decode(self.body, ctype)

    @property
    def code(self) -> str:
        return self.decoded()["error"]["code"]


@dataclass
class BlockServer:
    """The block server under test, its store and database, and a logged-in user."""

    url: str
    config: ServerSettings
    store: BlockStore
    pool: asyncpg.Pool
    session: aiohttp.ClientSession
    user_id: int
    token: str
    #: each user's home namespace (what their grants name)
    homes: dict[int, int] = field(default_factory=dict)

    async def add_user(self, name: str) -> tuple[int, str]:
        """A user and a fresh device token for them."""
        from metaserver.core.users import create_user

        async with self.pool.acquire() as conn:
            user_id = await create_user(conn, name, "secret-pw")
            token = new_token()
            await conn.execute(
                "INSERT INTO tokens (user_id, token_hash, device_name) VALUES ($1, $2, 'test-device')",
                user_id,
                hash_token(token),
            )
            self.homes[user_id] = await conn.fetchval("SELECT id FROM namespaces WHERE owner_id = $1", user_id)
        return user_id, token

    async def new_block(self, data: bytes, owner_id: int | None = None) -> tuple[str, BlockHash]:
        """A pending block row for ``data``, as the metadata server issues one."""
        block_id = random_id()
        h = hash_block(data)
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO blocks (id, ns_id, owner_id, size, md5, sha256, state)
                   SELECT $1, n.id, $2, $3, $4, $5, 'pending' FROM namespaces n WHERE n.owner_id = $2 AND n.kind = 'home'""",
                block_id,
                owner_id if owner_id is not None else self.user_id,
                h.size,
                bytes.fromhex(h.md5),
                bytes.fromhex(h.sha256),
            )
        return block_id, h

    async def state_of(self, block_id: str) -> str | None:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT state FROM blocks WHERE id = $1", block_id)

    def grant(
        self,
        op: str,
        block_id: str,
        h: BlockHash | None = None,
        *,
        user_id: int | None = None,
        ttl: float = 600,
        secret: bytes | None = None,
    ) -> str:
        """A signed grant, as the metadata server would issue it (override anything to forge)."""
        g = grants.Grant(
            op=op,
            block_id=block_id,
            user_id=user_id if user_id is not None else self.user_id,
            size=h.size if h else 0,
            md5=h.md5 if h and op == grants.PUT else "",
            sha256=h.sha256 if h and op == grants.PUT else "",
            expires_at=int(time.time() + ttl),
            ns_id=self.homes.get(self.user_id if user_id is None else user_id, 0),
        )
        return grants.sign(g, secret if secret is not None else self.config.grant_secret)

    def headers(self, grant: str | None = None, token: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {token or self.token}"}
        if grant is not None:
            h["X-Tessera-Grant"] = grant
        return h

    async def request(self, method: str, path: str, **kw: Any) -> Reply:
        async with self.session.request(method, self.url + path, **kw) as r:
            return Reply(r.status, r.headers, await r.read())

    async def put(self, block_id: str, data: Any, grant: str | None, **kw: Any) -> Reply:
        headers = kw.pop("headers") if "headers" in kw else self.headers(grant)
        if isinstance(data, bytes):
            data = io.BytesIO(data)  # aiohttp streams it (and still sends Content-Length)
        return await self.request("PUT", f"/v1/blocks/{block_id}", data=data, headers=headers, **kw)

    async def get(self, block_id: str, grant: str | None, method: str = "GET", **kw: Any) -> Reply:
        headers = kw.pop("headers") if "headers" in kw else self.headers(grant)
        return await self.request(method, f"/v1/blocks/{block_id}", headers=headers, **kw)

    async def upload(self, data: bytes) -> str:
        """A block stored the normal way: row, grant, PUT."""
        block_id, h = await self.new_block(data)
        r = await self.put(block_id, data, self.grant(grants.PUT, block_id, h))
        assert r.status == 200, r.body
        return block_id

    async def assert_not_stored(self, block_id: str) -> None:
        """Nothing of the block is visible: not in the store, row still pending."""
        assert not await self.store.exists(block_id)
        assert await self.state_of(block_id) == "pending"
        if isinstance(self.store, LocalStore):
            assert [f for f in stored_files(self.store.root) if block_id in f] == []


async def run_block_server(
    config: ServerSettings, store: BlockStore, pool: asyncpg.Pool, *, app_owns_store: bool = False
) -> AsyncIterator[BlockServer]:
    """Run the block server for one test, with user alice.

    The app uses ``store``; or, with ``app_owns_store``, builds its own from
    ``config`` and ``store`` is only the test's view of the same storage.
    """
    app = create_app(config) if app_owns_store else create_app(config, store)
    runner, url = await start_site(app)
    try:
        async with aiohttp.ClientSession() as session:
            server = BlockServer(url, config, store, pool, session, 0, "")
            server.user_id, server.token = await server.add_user("alice")
            yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def block_server(server_config, store, pool) -> AsyncIterator[BlockServer]:
    """The block server over each store backend, with user alice and her token."""
    async for server in run_block_server(server_config, store, pool):
        yield server


def with_settings(config: ServerSettings, **extra: Any) -> ServerSettings:
    """``config`` with block server settings (``ServerSettings.extra``) added."""
    return replace(config, extra={**config.extra, **extra})


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
