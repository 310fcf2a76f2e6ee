"""Fixtures for the client tests: a logged-in client against the real servers, and servers
whose block puts a test can hold or fail, or whose requests it can count."""

from __future__ import annotations

import asyncio
import functools
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from aiohttp import web

from client import RetryPolicy, TesseraClient
from protocol.errors import Unavailable
from tests.blockserver.instrumented import ObservedStore
from tests.conftest import Servers, start_site
from tests.conftest import eventually as shared_eventually

#: retries that give up within a second, so failure tests stay fast
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=5.0)

USER = "alice"
PASSWORD = "secret-pw"


def write_random(path: Path, size: int, seed: int = 0) -> Path:
    """Write ``size`` pseudo-random bytes to ``path`` in 1 MiB pieces."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    return path


def overwrite_at(path: Path, offset: int, data: bytes) -> None:
    """Change a file in place (its size stays unless the write goes past the end)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.fixture
async def token(servers) -> str:
    await servers.add_user(USER, PASSWORD)
    return await servers.login(USER, PASSWORD)


@pytest.fixture
async def client(servers, token) -> AsyncIterator[TesseraClient]:
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as c:
        yield c


class PutGate:
    """A block server hook run as each PUT's body is complete, before the block is published.

    It admits ``allow`` puts (every one while ``allow`` is None) and holds the
    rest until :meth:`release`, which lets them through or, with ``reject``,
    fails them with 503 so their blocks stay unstored. ``admitted`` counts the
    puts let through.
    """

    def __init__(self) -> None:
        self.allow: int | None = None
        self.admitted = 0
        self.held = 0
        self.on_admit: Callable[[str], Awaitable[None]] | None = None
        self._release = asyncio.Event()
        self._reject = False

    async def __call__(self, block_id: str) -> None:
        if self.allow is not None and self.admitted >= self.allow:
            self.held += 1
            try:
                await self._release.wait()
            finally:
                self.held -= 1
            if self._reject:
                raise Unavailable("put dropped by the test's gate")
        self.admitted += 1
        if self.on_admit is not None:
            await self.on_admit(block_id)

    def release(self, *, reject: bool) -> None:
        self._reject = reject
        self._release.set()

    def reset(self) -> None:
        """Admit everything from now on, counting from zero."""
        self.allow = None
        self.admitted = 0
        self._reject = False
        self._release = asyncio.Event()


@dataclass
class GatedServers:
    """The real servers, with the block store observed and every PUT passing ``gate``."""

    servers: Servers
    store: ObservedStore
    gate: PutGate

    async def stored_blocks(self) -> int:
        return await self.servers.pool.fetchval("SELECT count(*) FROM blocks WHERE state = 'stored'")

    async def settle(self) -> None:
        """Wait until no put is running in the block store."""

        async def idle() -> bool:
            return self.store.in_flight == 0

        await eventually(idle, "the block puts to finish")


#: what the client tests wait for may take a while on a loaded machine
eventually = functools.partial(shared_eventually, within=30.0, interval=0.02)


@pytest.fixture
async def gated(server_config, pool) -> AsyncIterator[GatedServers]:
    """Like ``servers``, with a :class:`PutGate` on the block server's store."""
    from blockserver.app import create_app as create_block_app
    from blockserver.stores.local import LocalStore
    from metaserver.app import create_app as create_meta_app

    gate = PutGate()
    assert server_config.blocks_dir is not None
    store = ObservedStore(LocalStore(server_config.blocks_dir), before_publish=gate)
    async with store:
        block_runner, block_url = await start_site(create_block_app(server_config, store))
        config = replace(server_config, block_urls=(block_url,))
        meta_runner, meta_url = await start_site(create_meta_app(config))
        try:
            yield GatedServers(Servers(config, meta_url, block_url, pool), store, gate)
        finally:
            gate.release(reject=True)
            await meta_runner.cleanup()
            await block_runner.cleanup()


@dataclass
class CountedServers:
    """The real servers, counting the requests each one serves (by method and route)."""

    servers: Servers
    meta: Counter[str] = field(default_factory=Counter)
    block: Counter[str] = field(default_factory=Counter)
    #: seconds each block GET waits before it is served (to catch a download in the middle)
    block_get_delay: float = 0.0

    def reset(self) -> None:
        self.meta.clear()
        self.block.clear()

    async def stored_blocks(self) -> int:
        return await self.servers.pool.fetchval("SELECT count(*) FROM blocks WHERE state = 'stored'")


def _counting(counter: Counter[str], delay: Callable[[web.Request], float]):
    @web.middleware
    async def middleware(request: web.Request, handler):
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        counter[f"{request.method} {route}"] += 1
        wait = delay(request)
        if wait:
            await asyncio.sleep(wait)
        return await handler(request)

    return middleware


@pytest.fixture(name="counted")
async def counted_fixture(server_config, pool) -> AsyncIterator[CountedServers]:
    """Like ``servers``, with request counters (and an optional block GET delay)."""
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app

    out = CountedServers(Servers(server_config, "", "", pool))
    block_app = create_block_app(server_config)
    block_app.middlewares.append(
        _counting(
            out.block, lambda r: out.block_get_delay if r.method == "GET" and "/blocks/" in r.path else 0.0
        )
    )
    block_runner, block_url = await start_site(block_app)
    config = replace(server_config, block_urls=(block_url,))
    meta_app = create_meta_app(config)
    meta_app.middlewares.append(_counting(out.meta, lambda r: 0.0))
    meta_runner, meta_url = await start_site(meta_app)
    out.servers = Servers(config=config, meta_url=meta_url, block_url=block_url, pool=pool)
    try:
        yield out
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()
