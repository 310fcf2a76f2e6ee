"""HTTP handlers of the block server: PUT, GET and HEAD of blocks (health: :mod:`metaserver.core.health`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from metaserver.core import db
from metaserver.core.auth import Caller
from metaserver.core.bodies import body_limit
from metaserver.core.http import respond
from protocol import grants
from protocol.errors import (
    BadRequest,
    BlockTooLarge,
    HashMismatch,
    LengthRequired,
    NotFound,
    SizeMismatch,
)
from protocol.hashing import BLOCK_SIZE, BlockHash

from ..access import authenticate, authorize_get, block_id_of, check_grant, expected_hash
from ..keys import BLOCK_METRICS, BLOCK_SETTINGS, POOL, PUT_SLOTS, STORE
from ..sendfile import send_file, socket_for_sendfile
from ..stores.base import BlockStream

log = logging.getLogger(__name__)

#: largest piece the batch PUT reads from a request body at once
BODY_PIECE = 256 * 1024
#: seconds a GET's client may take no bytes before the connection is dropped
GET_IDLE_TIMEOUT = 60.0
OCTET_STREAM = "application/octet-stream"


@body_limit(BLOCK_SIZE, streamed=True)  # and then to the size the grant names
async def put_block(request: web.Request) -> web.Response:
    """``PUT /v1/blocks/{block_id}``: receive, verify and store one block, then mark it stored."""
    caller = await authenticate(request)
    block_id = block_id_of(request)
    expected = expected_hash(check_grant(request, caller, grants.PUT, block_id))
    _check_content_length(request.content_length, expected.size)
    # a block stored before (a retried upload) is answered without reading or rewriting it
    if await _block_state(request, block_id) != "stored":
        await _receive(request, block_id, expected, caller)
        await _mark_stored(request, block_id)
        request.app[BLOCK_METRICS].blocks_stored.inc()
        request.app[BLOCK_METRICS].block_bytes_stored.inc(expected.size)
        log.debug("stored block %s (%d bytes) for user %d", block_id, expected.size, caller.user_id)
    return respond(request, {"block_id": block_id, "state": "stored"})


async def get_block(request: web.Request) -> web.StreamResponse:
    """``GET`` / ``HEAD /v1/blocks/{block_id}``: stream a stored block (not re-hashed: clients verify).

    A block on local disk goes from the page cache to the socket with ``os.sendfile``.
    """
    block_id = await authorize_get(request)
    store = request.app[STORE]

    if request.method == "HEAD":
        resp = _block_response(await store.size(block_id))
        await resp.prepare(request)
        await resp.write_eof()
        return resp

    size, stream = await store.open(block_id)
    async with stream:
        resp = _block_response(size)
        writer = await resp.prepare(request)
        try:
            if not await _sent_by_the_kernel(request, writer, stream, size):
                async for piece in stream:
                    await resp.write(piece)
        except ConnectionResetError:
            log.debug("block %s: the client went away mid-download", block_id)
            return resp
        except Exception:
            log.exception("block %s: reading from %r failed mid-response", block_id, store)
            return cut_short(request, resp)
    await resp.write_eof()
    request.app[BLOCK_METRICS].blocks_served.inc()
    request.app[BLOCK_METRICS].block_bytes_served.inc(size)
    return resp


def cut_short(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """End an answer that failed after its status line went out: the only honest answer left
    is a short body, so the connection is closed under it."""
    resp.force_close()
    if request.transport is not None:
        request.transport.close()
    return resp


async def _sent_by_the_kernel(
    request: web.Request, writer: AbstractStreamWriter | None, stream: BlockStream, size: int
) -> bool:
    """Send the block file with ``os.sendfile`` (see :mod:`blockserver.sendfile`); False where
    that cannot be done (a stream that is no local file, TLS, ...): the caller streams it."""
    fd = stream.fileno()
    if fd is None or writer is None or size == 0:
        return False
    writer.send_headers()  # through the transport, before any body byte goes round it
    out_fd = await socket_for_sendfile(request.transport)
    if out_fd is None:
        return False
    try:
        await send_file(out_fd, fd, size, GET_IDLE_TIMEOUT)
    except TimeoutError:
        raise ConnectionResetError(f"the client took nothing for {GET_IDLE_TIMEOUT:g} s") from None
    finally:
        os.close(out_fd)
    return True


def _check_content_length(length: int | None, size: int) -> None:
    """Refuse a body of the wrong announced size before reading a byte of it."""
    if length is None:
        raise LengthRequired()
    if length > size:
        raise BlockTooLarge(
            f"Content-Length {length} is over the {size} bytes granted for the block", size=size
        )
    if length < size:
        raise SizeMismatch(
            f"Content-Length {length} is not the {size} bytes granted for the block", size=size
        )


async def _block_state(request: web.Request, block_id: str) -> str:
    async with db.connection(request.app[POOL]) as conn:
        state = await conn.fetchval("SELECT state FROM blocks WHERE id = $1", block_id)
    if state is None:
        raise NotFound(f"no block {block_id} (never issued, or collected)")
    return state


async def _receive(request: web.Request, block_id: str, expected: BlockHash, caller: Caller) -> None:
    """Stream the body into the store, verified, in one of the app's PUT slots."""
    store = request.app[STORE]
    idle_timeout = request.app[BLOCK_SETTINGS].put_idle_timeout
    try:
        async with put_slot(request, caller), contextlib.aclosing(_request_body(request, idle_timeout)) as body:
            await store.put(block_id, body, expected)
    except (HashMismatch, SizeMismatch, BlockTooLarge) as e:
        log.info("block %s from user %d refused: %s", block_id, caller.user_id, e.message)
        request.app[BLOCK_METRICS].mismatch(e.code, e.details)
        raise


async def _mark_stored(request: web.Request, block_id: str) -> None:
    async with db.connection(request.app[POOL]) as conn:
        marked = await conn.fetchval(
            """UPDATE blocks SET state = 'stored', stored_at = coalesce(stored_at, now())
                WHERE id = $1 RETURNING id""",
            block_id,
        )
    if marked is None:
        # the row was collected while the bytes streamed in: nothing references them
        await request.app[STORE].delete(block_id)
        raise NotFound(f"block {block_id} was collected during the upload")


def _block_response(size: int) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.content_type = OCTET_STREAM
    resp.content_length = size
    return resp


def put_slot(request: web.Request, caller: Caller) -> contextlib.AbstractAsyncContextManager[None]:
    """One of the app's PUT slots within the caller's share, or 503 ``unavailable`` if none frees up in time."""
    return request.app[PUT_SLOTS].slot(caller.user_id)


async def _request_body(request: web.Request, idle_timeout: float) -> AsyncIterator[bytes]:
    """The request body in pieces; a stalled or cut-off body becomes a domain error."""
    content = request.content
    received = 0
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                # one chunk as it came off the socket: no join into a bigger buffer (a copy)
                piece, chunk_end = await content.readchunk()
        except TimeoutError:
            raise BadRequest(
                f"no body bytes arrived for {idle_timeout:g} s; the upload was dropped"
            ) from None
        except ConnectionResetError:
            log.info("block PUT %s: connection lost after %d bytes", request.path, received)
            raise SizeMismatch(f"the connection was lost after {received} bytes of the body") from None
        if not piece:
            if chunk_end:
                continue  # a chunked-encoding boundary, not the end (PUTs carry Content-Length)
            return
        received += len(piece)
        yield piece
