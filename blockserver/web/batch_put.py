"""``POST /v1/blocks/batch``: many small blocks in one request.

Uploading thousands of small files one block per request spends its time in
round trips. The body is a sequence of frames (``protocol.blockbatch``). Every block is
verified and stored exactly as a single PUT would; one bad block answers its
own error and the others are still stored. The body is streamed frame by frame
(never read whole), and bounded in size and frame count.

Small blocks (up to :data:`SMALL_BLOCK` bytes) are read whole and stored in
groups of up to :data:`SMALL_GROUP` bytes (:meth:`BlockStore.put_small`): the
local store writes a group's blocks, flushes them together (one ``syncfs`` on
Linux) and then their renames, so a thousand 4 KiB blocks cost two flushes
rather than a thousand fsyncs. Every block is still verified before it is visible, and all
are marked stored only after all are published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from metaserver.core import db
from metaserver.core.auth import Caller
from metaserver.core.bodies import body_limit
from metaserver.core.http import respond
from protocol import blockbatch, codec, grants
from protocol.errors import BadRequest, BodyTooLarge, LengthRequired, NotFound, TesseraError

from ..access import authenticate, expected_hash, verify_grant
from ..keys import BLOCK_METRICS, POOL, SETTINGS, STORE
from .blocks import BODY_PIECE, put_slot

log = logging.getLogger(__name__)

BATCH_TYPE = blockbatch.CONTENT_TYPE
MAX_BATCH_BODY = blockbatch.MAX_BODY
MAX_BATCH_FRAMES = blockbatch.MAX_FRAMES
MAX_FRAME_HEADER = blockbatch.MAX_HEADER
_LEN = blockbatch.LENGTH
#: blocks up to this size are read whole and stored in groups
SMALL_BLOCK = 256 * 1024
#: bytes of small blocks held in memory before they are stored
SMALL_GROUP = 4 * 1024 * 1024


class _Frames:
    """Reads frames off the request body, tracking how much of the current block is left."""

    def __init__(self, request: web.Request) -> None:
        self.content = request.content
        #: bytes of the current block not read yet
        self.left = 0

    async def header(self) -> dict[str, Any] | None:
        try:
            raw_len = await self.content.readexactly(_LEN.size)
        except Exception as e:
            if getattr(e, "partial", None) == b"":
                return None  # a clean end of the body
            raise BadRequest("the batch body ends inside a frame header") from None
        (n,) = _LEN.unpack(raw_len)
        if not 0 < n <= MAX_FRAME_HEADER:
            raise BadRequest(f"a frame header must be 1..{MAX_FRAME_HEADER} bytes")
        try:
            header = codec.unpack(await self.content.readexactly(n))
        except Exception as e:
            if isinstance(e, TesseraError):
                raise
            raise BadRequest("the batch body ends inside a frame header") from None
        if not isinstance(header, dict) or not isinstance(header.get("grant"), str):
            raise BadRequest("a frame header is {block_id, grant}")
        return header

    async def body(self, size: int) -> AsyncIterator[bytes]:
        self.left = size
        while self.left:
            piece = await self.content.read(min(BODY_PIECE, self.left))
            if not piece:
                raise BadRequest("the batch body ends inside a block")
            self.left -= len(piece)
            yield piece

    async def whole(self, size: int) -> bytes:
        """The next ``size`` bytes (a small block) in one piece."""
        try:
            return await self.content.readexactly(size)
        except asyncio.IncompleteReadError:
            raise BadRequest("the batch body ends inside a block") from None

    async def skip_rest(self) -> None:
        """Read past what a refused block left unread, to reach the next frame."""
        async for _ in self.body(self.left):
            pass


class _SmallGroup:
    """Small blocks read whole, stored together once they add up to :data:`SMALL_GROUP` bytes."""

    def __init__(self, store: Any, user_id: int, results: list[dict[str, Any]], stored: list[str]) -> None:
        self._store = store
        self._user_id = user_id
        self._results = results
        self._stored = stored
        self._blocks: list[tuple[str, bytes, Any]] = []
        self._size = 0

    async def add(self, block_id: str, data: bytes, expected: Any) -> None:
        self._blocks.append((block_id, data, expected))
        self._size += len(data)
        if self._size >= SMALL_GROUP:
            await self.flush()

    async def flush(self) -> None:
        blocks, self._blocks, self._size = self._blocks, [], 0
        if not blocks:
            return
        errors = await self._store.put_small(blocks)
        for (block_id, _, _), err in zip(blocks, errors, strict=True):
            if err is None:
                self._stored.append(block_id)
                self._results.append({"block_id": block_id, "state": "stored"})
            else:
                log.info("batch block %s from user %d refused: %s", block_id, self._user_id, err.message)
                self._results.append({"block_id": block_id, **err.to_wire()})


@body_limit(MAX_BATCH_BODY, streamed=True)  # read frame by frame, each block bounded by its grant
async def put_blocks(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    async with put_slot(request, caller):  # a batch streams blocks in as a PUT does: one slot
        return await _put_blocks(request, caller)


async def _put_blocks(request: web.Request, caller: Caller) -> web.Response:
    if codec.media_type(request.headers.get("Content-Type")) != BATCH_TYPE:
        raise BadRequest(f"a block batch is sent as {BATCH_TYPE}")
    if request.content_length is None:
        raise LengthRequired()
    if request.content_length > MAX_BATCH_BODY:
        raise BodyTooLarge(f"a block batch is at most {MAX_BATCH_BODY} bytes")
    secret = request.app[SETTINGS].grant_secret
    store = request.app[STORE]
    frames = _Frames(request)
    results: list[dict[str, Any]] = []
    stored: list[str] = []
    group = _SmallGroup(store, caller.user_id, results, stored)
    frame = 0
    sizes: dict[str, int] = {}
    while (header := await frames.header()) is not None:
        if frame >= MAX_BATCH_FRAMES:
            raise BadRequest(f"a block batch holds at most {MAX_BATCH_FRAMES} blocks")
        # the frame's length comes from the grant: a grant that does not check out leaves no
        # trustworthy way to find the next frame, so it fails the whole batch
        token = header["grant"]
        try:
            block_id = grants.canonical_block_id(str(header.get("block_id", "")))
            g = verify_grant(secret, token, caller, grants.PUT, block_id)
        except TesseraError as e:
            raise BadRequest(f"frame {frame}: {e.message}") from None
        frame += 1
        expected = expected_hash(g)
        sizes[block_id] = expected.size
        if expected.size <= SMALL_BLOCK:
            # small blocks are gathered (bounded) and stored together: one flush for all
            await group.add(block_id, await frames.whole(expected.size), expected)
            continue
        await group.flush()
        try:
            async with contextlib.aclosing(frames.body(expected.size)) as body:
                await store.put(block_id, body, expected)
            stored.append(block_id)
            results.append({"block_id": block_id, "state": "stored"})
        except BadRequest:
            raise
        except TesseraError as e:
            log.info("batch block %s from user %d refused: %s", block_id, caller.user_id, e.message)
            results.append({"block_id": block_id, **e.to_wire()})
            await frames.skip_rest()
    await group.flush()
    if stored:
        await _mark_stored(request, stored, results)
    _count(request, results, sizes)
    return respond(request, {"results": results})


async def _mark_stored(request: web.Request, stored: list[str], results: list[dict[str, Any]]) -> None:
    """Mark the blocks stored; a block collected while the batch streamed in is deleted again
    and its result becomes ``not_found``."""
    store = request.app[STORE]
    async with db.connection(request.app[POOL]) as conn:
        marked = await conn.fetch(
            """UPDATE blocks SET state = 'stored', stored_at = coalesce(stored_at, now())
                WHERE id = ANY($1::uuid[]) RETURNING id""",
            stored,
        )
    gone = set(stored) - {r["id"] for r in marked}
    for block_id in gone:  # collected while the batch streamed in
        await store.delete(block_id)
    for r in results:
        if r["block_id"] in gone:
            r.pop("state", None)
            r.update(NotFound(f"block {r['block_id']} was collected during the upload").to_wire())


def _count(request: web.Request, results: list[dict[str, Any]], sizes: dict[str, int]) -> None:
    """Blocks stored, and bodies refused for their hashes or size, for the metrics."""
    metrics = request.app[BLOCK_METRICS]
    for r in results:
        if r.get("state") == "stored":
            metrics.blocks_stored.inc()
            metrics.block_bytes_stored.inc(sizes.get(r["block_id"], 0))
        elif "error" in r:
            metrics.mismatch(r["error"].get("code", ""), r["error"].get("details"))
