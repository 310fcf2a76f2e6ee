"""Fault-test fixtures: real servers on 127.0.0.1 that a test can restart, and a faulty proxy
in front of the block server (the metadata server hands clients the proxy's URL)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp import web

from client import RetryPolicy, TesseraClient
from metaserver.core.settings import ServerSettings
from tests.conftest import eventually, start_site  # noqa: F401 (eventually: the fault tests take it from here)
from tests.faults.proxy import FaultyProxy

#: quick retries, but enough of them to ride out a server restart
RETRY = RetryPolicy(attempts=12, base_delay=0.05, max_delay=0.5, deadline=30.0)
USER, PASSWORD = "alice", "secret-pw"


class Restartable:
    """An aiohttp app factory served on a fixed 127.0.0.1 port; stop and start it again at will."""

    def __init__(self, make_app: Callable[[], web.Application]) -> None:
        self._make_app = make_app
        self.runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.port = 0
        self.url = ""

    async def start(self) -> Restartable:
        self.app = self._make_app()
        self.runner, self.url = await start_site(self.app, port=self.port)
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@dataclass
class Stack:
    config: ServerSettings
    block: Restartable
    meta: Restartable
    proxy: FaultyProxy
    token: str

    def client(self, **kw) -> TesseraClient:
        return TesseraClient(self.meta.url, self.token, retry=RETRY, **kw)


@pytest.fixture
async def stack(server_config, pool) -> AsyncIterator[Stack]:
    """Block server behind a FaultyProxy, a metadata server that names the proxy, user alice."""
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user

    config = replace(server_config, extra={**server_config.extra, "gc_interval": 0})
    block = await Restartable(lambda: create_block_app(config)).start()
    proxy = await FaultyProxy("127.0.0.1", block.port).start()
    meta_config = replace(config, block_urls=(proxy.url,))
    meta = await Restartable(lambda: create_meta_app(meta_config)).start()
    try:
        async with pool.acquire() as conn:
            await create_user(conn, USER, PASSWORD)
        async with TesseraClient(meta.url, retry=RETRY) as c:
            token = (await c.login(USER, PASSWORD, "fault-test")).token
        yield Stack(meta_config, block, meta, proxy, token)
    finally:
        await meta.stop()
        await proxy.close()
        await block.stop()


def write_file(path: Path, size: int, seed: int = 1) -> Path:
    import random

    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server_errors(caplog) -> Callable[[], list[logging.LogRecord]]:
    """ERROR records logged by the servers or aiohttp during the test."""
    caplog.set_level(logging.WARNING)

    def errors() -> list[logging.LogRecord]:
        return [
            r
            for r in caplog.records
            if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("aiohttp", "metaserver", "blockserver")
        ]

    return errors
