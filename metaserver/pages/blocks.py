"""A file version's bytes for the browser: its blocks fetched from the block servers, verified.

The metadata server asks a block server for each block (``GET /v1/blocks/{id}`` with a get
grant it signs itself and the session's own token, so the block server checks the user as
for any device), checks its size and SHA-256 (in a thread) and only then hands it on. At
most :data:`PREFETCH` blocks are in flight or waiting per download: memory stays a few
blocks whatever the file's size.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import asyncpg
from aiohttp import web

from protocol.errors import IsAFolder, NotFound, TesseraError, Unavailable
from protocol.hashing import BLOCK_SIZE

from ..core import db
from ..core.auth import bearer_token
from ..core.callers import Context
from ..core.grants import get_grant, link_grant
from ..core.settings import ServerSettings
from ..keys import SETTINGS
from ..tree import entries

log = logging.getLogger(__name__)

#: blocks fetched ahead of the one being sent
PREFETCH = 3
#: block rows read from the database at once
PAGE = 500
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10)
HTTP = web.AppKey("pages_http", aiohttp.ClientSession)


@dataclass(frozen=True, slots=True)
class Version:
    rev: int
    path: str
    size: int
    content_hash: str
    modified: float


@dataclass(frozen=True, slots=True)
class Block:
    index: int
    block_id: str
    size: int
    sha256: bytes


async def http_session(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: the client session the downloads fetch blocks with. Block servers behind
    https are checked against the system's trust store (OpenSSL's, so ``SSL_CERT_FILE`` names a
    private CA's certificate)."""
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    app[HTTP] = aiohttp.ClientSession(timeout=FETCH_TIMEOUT, auto_decompress=False, connector=connector)
    yield
    await app[HTTP].close()


def reader_for(request: web.Request, ctx: Context) -> BlockReader:
    """A reader of ``ctx``'s blocks with the request's token (authenticated already: a
    session's cookie is the request's bearer token by then)."""
    token = bearer_token(request.headers.get("Authorization"))
    settings, user_id = request.app[SETTINGS], ctx.caller.user_id
    return BlockReader(request.app[HTTP], settings, lambda b: get_grant(settings, user_id, b.block_id, b.size), token)


def link_reader(request: web.Request, link_id: int) -> BlockReader:
    """A reader for the visitors of share link ``link_id``: link grants, no user token (the block
    server checks that the link still works and reaches the block)."""
    settings = request.app[SETTINGS]
    return BlockReader(request.app[HTTP], settings, lambda b: link_grant(settings, link_id, b.block_id, b.size))


async def find_version(pool: asyncpg.Pool, ns_id: int, path: str, rev: int | None) -> Version:
    """The version to read: ``rev`` of namespace ``ns_id``, else the file at ``path`` now."""
    async with db.connection(pool) as conn:
        if rev is None:
            row = await entries.get_live(conn, ns_id, path)
            if row["kind"] != "file":
                raise IsAFolder(f"{row['path']} is a folder")
            rev = row["rev"]
        v = await conn.fetchrow(
            "SELECT id, path, size, content_hash, created_at FROM versions WHERE id = $1 AND ns_id = $2",
            rev,
            ns_id,
        )
    if v is None:
        raise NotFound(f"no revision {rev}")
    return Version(v["id"], v["path"], v["size"], bytes(v["content_hash"]).hex(), v["created_at"].timestamp())


async def _block_rows(pool: asyncpg.Pool, rev: int, start: int) -> AsyncIterator[Block]:
    """The version's blocks from index ``start`` on, read a page at a time."""
    while True:
        async with db.connection(pool) as conn:
            rows = await entries.version_blocks(conn, rev, start, PAGE)
        for r in rows:
            yield Block(r["idx"], r["id"], r["size"], bytes(r["sha256"]))
        if len(rows) < PAGE:
            return
        start = rows[-1]["idx"] + 1


class BlockReader:
    """Fetches blocks from the block servers with the grants ``grant`` signs (and the user's
    ``token``, if any) and verifies them."""

    def __init__(
        self, http: aiohttp.ClientSession, settings: ServerSettings, grant: Callable[[Block], str], token: str = ""
    ) -> None:
        self._http = http
        self._settings = settings
        self._grant = grant
        self._token = token

    async def fetch(self, block: Block) -> bytes:
        """One block's bytes, checked against its size and SHA-256; tries each block server in turn."""
        headers = {"X-Tessera-Grant": self._grant(block)}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        failure: Exception | None = None
        urls = self._settings.block_urls
        turn = block.index % len(urls)  # blocks spread over the block servers; each falls back on the rest
        for base in urls[turn:] + urls[:turn]:
            try:
                async with self._http.get(f"{base}/v1/blocks/{block.block_id}", headers=headers) as r:
                    if r.status != 200:
                        raise Unavailable(f"block server answered {r.status} for block {block.index}")
                    data = await r.content.readexactly(block.size)
            except (aiohttp.ClientError, TimeoutError, asyncio.IncompleteReadError, TesseraError) as e:
                failure = e
                continue
            if len(data) == block.size and await asyncio.to_thread(_sha256, data) == block.sha256:
                return data
            failure = Unavailable(f"block {block.index} of the file failed its hash check")
        log.warning("block %s: no block server gave it: %s", block.block_id, failure)
        raise Unavailable("the file's bytes cannot be read right now; try again") from failure

    async def pieces(self, pool: asyncpg.Pool, rev: int, first: int, last: int) -> AsyncIterator[bytes]:
        """The bytes ``first``..``last`` (inclusive) of version ``rev``, a block's share at a time."""
        ahead: deque[tuple[Block, asyncio.Task[bytes]]] = deque()
        rows = _block_rows(pool, rev, first // BLOCK_SIZE)
        try:
            async for block in rows:
                if block.index * BLOCK_SIZE > last:
                    break
                ahead.append((block, asyncio.ensure_future(self.fetch(block))))
                if len(ahead) > PREFETCH:
                    yield _cut(*await _next(ahead), first, last)
            while ahead:
                yield _cut(*await _next(ahead), first, last)
        finally:
            await rows.aclose()
            for _, task in ahead:
                task.cancel()
            await asyncio.gather(*(t for _, t in ahead), return_exceptions=True)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


async def _next(ahead: deque[tuple[Block, asyncio.Task[bytes]]]) -> tuple[Block, bytes]:
    block, task = ahead.popleft()
    return block, await task


def _cut(block: Block, data: bytes, first: int, last: int) -> bytes:
    """The part of ``block``'s bytes that falls inside ``first``..``last``."""
    start = block.index * BLOCK_SIZE
    lo, hi = max(first - start, 0), min(last - start + 1, len(data))
    return data[lo:hi] if (lo, hi) != (0, len(data)) else data
