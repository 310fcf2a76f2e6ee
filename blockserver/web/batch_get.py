"""``POST /v1/blocks/get_batch``: many small blocks in one answer.

Downloading thousands of small files one ``GET /v1/blocks/{id}`` each spends
the time in round trips and in one token lookup per request. The request body
(msgpack or JSON, at most :data:`protocol.blockbatch.MAX_GET_REQUEST` bytes)
lists ``{"blocks": [{"block_id", "grant"}, ...]}`` (1 to
:data:`protocol.blockbatch.MAX_FRAMES`), each with a get grant exactly as a
single GET needs. The answer streams one frame per block, in order
(:mod:`protocol.blockbatch`): the block's bytes, or an error of its own (a bad
or expired grant, a block not stored). The sizes the grants name may add up to
at most :data:`protocol.blockbatch.MAX_BODY` bytes. Blocks are not re-hashed:
the client verifies each one, as for a single GET.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from metaserver.core.auth import Caller
from metaserver.core.bodies import body_limit, route_limit
from protocol import blockbatch, codec, grants
from protocol.errors import (
    BadRequest,
    BodyTooLarge,
    LengthRequired,
    NotFound,
    TesseraError,
    UnsupportedMediaType,
)

from ..access import authenticate, verify_grant
from ..keys import BLOCK_METRICS, SETTINGS, STORE
from ..stores.base import BlockStore
from .blocks import cut_short

log = logging.getLogger(__name__)

#: blocks up to this size are read whole, many per worker-thread call
SMALL_BLOCK = 256 * 1024
#: bytes read at once by one read_small call
READ_GROUP = 4 * 1024 * 1024


async def _read_request(request: web.Request) -> Any:
    ctype = codec.media_type(request.headers.get("Content-Type"))
    if ctype not in codec.CONTENT_TYPES:
        raise UnsupportedMediaType()
    if request.content_length is None:
        raise LengthRequired()
    if request.content_length > blockbatch.MAX_GET_REQUEST:
        raise BodyTooLarge(f"a batch GET request is at most {blockbatch.MAX_GET_REQUEST} bytes")
    data = await request.content.readexactly(request.content_length)
    return codec.decode(data, ctype, route_limit(request).decode)


def _wanted(body: Any) -> list[Any]:
    items = body.get("blocks") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= blockbatch.MAX_FRAMES:
        raise BadRequest(
            f"the body is {{blocks: [{{block_id, grant}}, ...]}} with 1 to {blockbatch.MAX_FRAMES} blocks"
        )
    return items


@body_limit(blockbatch.MAX_GET_REQUEST, max_container_len=blockbatch.MAX_FRAMES, streamed=True)
async def get_blocks(request: web.Request) -> web.StreamResponse:
    caller = await authenticate(request)
    items = _wanted(await _read_request(request))
    store = request.app[STORE]
    plan = _plan(items, request.app[SETTINGS].grant_secret, caller)
    resp = web.StreamResponse(headers={"Content-Type": blockbatch.CONTENT_TYPE})
    await resp.prepare(request)
    try:
        await _send(resp, store, plan)
    except ConnectionResetError:
        log.debug("block batch: the client went away mid-answer")
        return resp
    except Exception:
        log.exception("block batch: reading from %r failed mid-answer", store)
        return cut_short(request, resp)
    await resp.write_eof()
    sizes = [what for _, what in plan if isinstance(what, int)]
    request.app[BLOCK_METRICS].blocks_served.inc(len(sizes))  # granted ones (a missing block answers its error)
    request.app[BLOCK_METRICS].block_bytes_served.inc(sum(sizes))
    return resp


def _plan(items: list[Any], secret: bytes, caller: Caller) -> list[tuple[str, int | TesseraError]]:
    """Every grant checked before a byte is sent: (block_id, size) or (block_id, error) per item;
    BadRequest if the sizes add up to more than one answer may hold."""
    plan: list[tuple[str, int | TesseraError]] = []
    total = 0
    for item in items:
        raw_id = str(item.get("block_id", "")) if isinstance(item, dict) else ""
        try:
            if not isinstance(item, dict) or not isinstance(item.get("grant"), str):
                raise BadRequest("each block is {block_id, grant}")
            block_id = grants.canonical_block_id(raw_id)
            g = verify_grant(secret, item["grant"], caller, grants.GET, block_id)
            plan.append((block_id, g.size))
            total += g.size
        except TesseraError as e:
            plan.append((raw_id[:64], e))
    if total > blockbatch.MAX_BODY:
        raise BadRequest(f"the blocks asked for add up to more than {blockbatch.MAX_BODY} bytes")
    return plan


async def _send(resp: web.StreamResponse, store: BlockStore, plan: list[tuple[str, int | TesseraError]]) -> None:
    """One frame per planned block, in order: its bytes or its error."""
    i = 0
    while i < len(plan):
        # a run of small blocks is read in one go; a large one is streamed alone
        group: list[tuple[str, int]] = []
        size = 0
        while i < len(plan) and len(group) < blockbatch.MAX_FRAMES:
            block_id, what = plan[i]
            if isinstance(what, TesseraError):
                if group:
                    break
                await resp.write(blockbatch.error_header(block_id, what.to_wire()))
                i += 1
                continue
            if what > SMALL_BLOCK or size + what > READ_GROUP:
                break
            group.append((block_id, what))
            size += what
            i += 1
        if group:
            datas = await store.read_small([b for b, _ in group])
            for (block_id, want), data in zip(group, datas, strict=True):
                await _write_block(resp, block_id, want, data)
        elif i < len(plan) and not isinstance(plan[i][1], TesseraError):
            block_id, want = plan[i]
            await _stream_block(resp, store, block_id, want)  # type: ignore[arg-type]
            i += 1


async def _write_block(resp: web.StreamResponse, block_id: str, want: int, data: bytes | None) -> None:
    if data is None:
        await resp.write(blockbatch.error_header(block_id, NotFound(f"no block {block_id}").to_wire()))
    elif len(data) != want:
        # the grant and the store disagree: the client would fail the block anyway
        await resp.write(
            blockbatch.error_header(block_id, NotFound(f"block {block_id} has another size").to_wire())
        )
    else:
        await resp.write(blockbatch.answer_header(block_id, want) + data)


async def _stream_block(resp: web.StreamResponse, store: Any, block_id: str, want: int) -> None:
    try:
        size, stream = await store.open(block_id)
    except NotFound as e:
        await resp.write(blockbatch.error_header(block_id, e.to_wire()))
        return
    async with stream:
        if size != want:
            await resp.write(
                blockbatch.error_header(block_id, NotFound(f"block {block_id} has another size").to_wire())
            )
            return
        await resp.write(blockbatch.answer_header(block_id, size))
        sent = 0
        async for piece in stream:
            sent += len(piece)
            await resp.write(piece)
        if sent != size:
            raise OSError(f"block {block_id} ended after {sent} of {size} bytes")
