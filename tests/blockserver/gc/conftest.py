"""Garbage collection tests: both servers on one block store, a client, and helpers to look at rows and objects."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import pytest

from blockserver.stores.base import BlockStore
from blockserver.stores.local import LocalStore
from client import RetryPolicy, TesseraClient, UploadSession
from metaserver.core.settings import ServerSettings
from protocol.hashing import BLOCK_SIZE, content_hash, hash_block
from tests.blockserver.conftest import create_bucket, s3_store_for
from tests.conftest import start_site

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=5.0)


@dataclass
class Env:
    config: ServerSettings
    pool: asyncpg.Pool
    store: BlockStore
    client: TesseraClient
    token: str


async def _env(server_config, pool, store: BlockStore, **config_changes) -> AsyncIterator[Env]:
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user

    config = replace(server_config, extra={"gc_interval": 0}, **config_changes)
    block_runner, block_url = await start_site(create_block_app(config, store=store))
    config = replace(config, block_urls=(block_url,))
    meta_runner, meta_url = await start_site(create_meta_app(config))
    try:
        async with pool.acquire() as conn:
            await create_user(conn, "alice", "pw-alice-long")
        async with TesseraClient(meta_url, retry=FAST_RETRY) as client:
            login = await client.login("alice", "pw-alice-long", "gc-test")
            yield Env(config, pool, store, client, login.token)
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()


@pytest.fixture(params=["local", "s3"])
async def any_env(request, server_config, pool) -> AsyncIterator[Env]:
    if request.param == "local":
        store: BlockStore = LocalStore(server_config.blocks_dir)
    else:
        store = s3_store_for(request.getfixturevalue("moto_endpoint"), request.getfixturevalue("aws_session"))
    async with store:
        if request.param == "s3":
            await create_bucket(store)
        async for env in _env(server_config, pool, store):
            yield env


@pytest.fixture
async def env(server_config, pool) -> AsyncIterator[Env]:
    async with LocalStore(server_config.blocks_dir) as store:
        async for e in _env(server_config, pool, store):
            yield e


@pytest.fixture
async def short_ttl_env(server_config, pool) -> AsyncIterator[Env]:
    async with LocalStore(server_config.blocks_dir) as store:
        async for e in _env(server_config, pool, store, upload_session_ttl=1):
            yield e


# -- helpers -------------------------------------------------------------------------------


def data_of(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def pieces(data: bytes) -> list[bytes]:
    return [data[i : i + BLOCK_SIZE] for i in range(0, len(data), BLOCK_SIZE)]


async def open_session(env: Env, path: str, data: bytes) -> UploadSession:
    hashes = [hash_block(p) for p in pieces(data)]
    return await env.client.create_upload(
        path, len(data), hashes, content_hash=content_hash(h.sha256 for h in hashes)
    )


async def put_blocks(env: Env, session: UploadSession, data: bytes, indexes=None) -> None:
    parts = pieces(data)
    for b in session.blocks:
        if b.grant and (indexes is None or b.index in indexes):
            await env.client.put_block(session.block_servers, b.index, b.block_id, b.grant, parts[b.index])


async def expire(env: Env, session: UploadSession, ago: str = "1 hour") -> None:
    await env.pool.execute(
        f"UPDATE upload_sessions SET expires_at = now() - interval '{ago}' WHERE id = $1", session.upload_id
    )


async def rows(env: Env, ids) -> set[str]:
    return set(await env.pool.fetchval("SELECT array(SELECT id FROM blocks WHERE id = ANY($1::uuid[]))", list(ids)))


async def objects(env: Env) -> set[str]:
    return {block_id async for block_id in env.store.list_ids()}


async def put_orphan(store: BlockStore) -> str:
    """An object with no block row (as a crash between row and object deletion leaves)."""
    block_id = uuid.uuid4().hex
    data = os.urandom(1000)

    async def body():
        yield data

    await store.put(block_id, body(), hash_block(data))
    return block_id


async def download_equals(env: Env, tmp_path: Path, path: str, data: bytes) -> bool:
    out = tmp_path / f"dl-{uuid.uuid4().hex[:8]}"
    await env.client.download_file(path, out)
    return out.read_bytes() == data


