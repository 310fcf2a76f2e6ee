"""PostgreSQL restarted under running servers: they answer 503 meanwhile and recover on their own.

This test stops and starts a PostgreSQL cluster of its own (the shared one serves every other test).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest

from client import TesseraClient
from metaserver.core import migrate
from metaserver.core.health import READY_TTL
from metaserver.core.settings import ServerSettings
from metaserver.keys import NOTIFIER
from protocol.hashing import BLOCK_SIZE
from tests.conftest import eventually, start_site
from tests.faults.conftest import RETRY, sha256_of, write_file


class OwnPostgres:
    """An embedded cluster that can be stopped and started again under the same data dir and socket."""

    def __init__(self) -> None:
        from metaserver.core.embedded_pg import EmbeddedPostgres

        self.root = Path(tempfile.mkdtemp(prefix="tpr"))  # short: the socket path is limited
        self.pg = EmbeddedPostgres(self.root)
        self.dsn = ""

    async def start_first(self) -> str:
        self.dsn = await asyncio.to_thread(self.pg.start)
        return self.dsn

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        user = getattr(self.pg._server, "system_user", None)  # pgserver runs it as 'pgserver' under root
        pg_ctl(list(args), pgdata=self.pg.pgdata, user=user, timeout=30)

    async def stop(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-m", "fast", "-w", "stop")

    async def start(self) -> None:
        socket_dir = parse_qs(urlsplit(self.dsn).query)["host"][0]
        log = str(self.pg.pgdata / "log")
        await asyncio.to_thread(self._pg_ctl, "-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", log, "start")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop()  # pgserver only stops the postmaster it started itself
        await asyncio.to_thread(self.pg.stop)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
async def own_pg():
    pg = OwnPostgres()
    try:
        await pg.start_first()
        yield pg
    finally:
        await pg.close()


async def _status(session: aiohttp.ClientSession, url: str, token: str | None = None) -> tuple[int, str | None]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as r:
            body = await r.json()
            return r.status, (body.get("error") or {}).get("code")
    except (aiohttp.ClientError, TimeoutError) as e:
        return 0, type(e).__name__


async def servers_on(pg: OwnPostgres, tmp_path: Path):
    """Both servers on ``pg`` (migrated, with user alice/pw): block runner and URL, meta app, runner, URL."""
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user

    dsn = pg.dsn
    await migrate.apply_dsn(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await create_user(conn, "alice", "pw-alice-long")
    finally:
        await conn.close()
    config = ServerSettings(
        database_url=dsn, grant_secret=secrets.token_hex(16).encode(), data_dir=tmp_path / "server",
        blocks_dir=tmp_path / "server" / "blocks", extra={"gc_interval": 0},
    )
    block_runner, block_url = await start_site(create_block_app(config))
    meta_app = create_meta_app(ServerSettings(**{**config.__dict__, "block_urls": (block_url,)}))
    meta_runner, meta_url = await start_site(meta_app)
    return block_runner, block_url, meta_app, meta_runner, meta_url


async def test_servers_recover_from_a_postgresql_restart(own_pg, tmp_path):
    block_runner, block_url, meta_app, meta_runner, meta_url = await servers_on(own_pg, tmp_path)
    notifier = meta_app[NOTIFIER]
    try:
        async with TesseraClient(meta_url, retry=RETRY) as client, aiohttp.ClientSession() as http:
            token = (await client.login("alice", "pw-alice-long", "pg-test")).token
            a = write_file(tmp_path / "a.bin", BLOCK_SIZE + 77, seed=5)
            await client.upload_file(a, "/a.bin")
            assert notifier.connected

            # requests keep coming (no retries) while PostgreSQL goes down and comes back
            seen: Counter = Counter()
            stop_load = asyncio.Event()

            async def load() -> None:
                while not stop_load.is_set():
                    seen[await _status(http, meta_url + "/v1/account", token)] += 1
                    seen[await _status(http, block_url + "/v1/health")] += 1
                    await asyncio.sleep(0.01)

            loader = asyncio.create_task(load())
            await own_pg.stop()
            assert await _status(http, meta_url + "/v1/account", token) == (503, "unavailable")

            async def block_not_ready() -> bool:  # readiness is cached a few seconds (metaserver.core.health)
                return await _status(http, block_url + "/v1/health") == (503, "unavailable")

            await eventually(block_not_ready, "the block server to say it is not ready", within=READY_TTL + 5)
            # an upload started now retries its 503s and finishes once the database is back
            b = write_file(tmp_path / "b.bin", 2 * BLOCK_SIZE + 5, seed=6)
            upload_b = asyncio.create_task(client.upload_file(b, "/b.bin"))
            await asyncio.sleep(0.5)
            assert not upload_b.done()
            await own_pg.start()
            started = time.monotonic()

            async def answers() -> bool:
                return await _status(http, meta_url + "/v1/account", token) == (200, None)

            await eventually(answers, "the metadata server to answer again", within=20)
            recovered_after = time.monotonic() - started
            await asyncio.wait_for(upload_b, 30)
            stop_load.set()
            await loader
            # every answer was a success or a clean 503: no 500s, no hangs
            assert {k for k in seen if k[0] not in (200, 503)} == set(), seen
            assert seen[(503, "unavailable")] > 0 and seen[(200, None)] > 0
            assert recovered_after < 5, recovered_after

            # the long-poll listener reconnected by itself: a commit wakes a held poll at once
            async def listening() -> bool:
                return notifier.connected

            await eventually(listening, "the journal listener to reconnect", within=15)
            cursor = await client.latest_cursor()
            poll = asyncio.create_task(client.longpoll(cursor, timeout=30))
            await asyncio.sleep(0.3)
            woke_at = time.monotonic()
            await client.mkdir("/after-restart")
            result = await asyncio.wait_for(poll, 10)
            assert result.changes and time.monotonic() - woke_at < 5

            for name, src in (("/a.bin", a), ("/b.bin", b)):
                out = tmp_path / f"out-{name[1:]}"
                await client.download_file(name, out)
                assert sha256_of(out) == sha256_of(src)
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()
