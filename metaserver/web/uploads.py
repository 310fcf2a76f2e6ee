"""Upload session endpoints: create, status, commit; pending uploads offered to the other devices."""

from __future__ import annotations

from aiohttp import web

from protocol.errors import TesseraError
from protocol.hashing import BLOCK_SIZE
from protocol.messages.uploads import MAX_FILE_SIZE, MAX_PART_BLOCKS, UploadRequest

from ..core import db
from ..core.bodies import KIB, MIB, body_limit, read_body
from ..core.http import MAX_INT, query_int, respond
from ..core.metrics import METRICS
from ..keys import POOL, SETTINGS
from ..tree import batch
from ..uploads import append, commit_batch, create_batch, incoming, sessions
from .auth import authenticate

#: the longest block list one request may carry: a whole list of the largest file
MAX_LIST = MAX_FILE_SIZE // BLOCK_SIZE


@body_limit(48 * MIB, max_container_len=MAX_LIST)  # a whole list of a 1 TiB file: 262,144 blocks
async def create_upload(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    req = UploadRequest.from_wire(await read_body(request))
    async with db.transaction(request.app[POOL]) as conn:
        answer = await sessions.create(conn, request.app[SETTINGS], ctx.caller, ctx.ns_id, req)
    return respond(request, answer.to_wire())


async def upload_status(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.transaction(request.app[POOL]) as conn:
        answer = await sessions.status(conn, request.app[SETTINGS], ctx.caller, request.match_info["upload_id"])
    return respond(request, answer.to_wire())


@body_limit(2 * MIB, max_container_len=MAX_PART_BLOCKS)
async def append_blocks(request: web.Request) -> web.Response:
    """List the next part of an open session's blocks; the part's blocks, needed ones with grants."""
    ctx = await authenticate(request)
    body = await read_body(request)
    async with db.transaction(request.app[POOL]) as conn:
        answer = await append.append(conn, request.app[SETTINGS], ctx.caller, request.match_info["upload_id"], body)
    return respond(request, answer.to_wire())


async def abort_upload(request: web.Request) -> web.Response:
    """Give an upload session up (its reservation of quota and limits is released at once)."""
    ctx = await authenticate(request)
    async with db.transaction(request.app[POOL]) as conn:
        await sessions.abort(conn, ctx.caller, request.match_info["upload_id"])
    return respond(request, {})


async def commit_upload(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    with request.app[METRICS].commit("single"):
        async with db.transaction(request.app[POOL]) as conn:
            answer = await sessions.commit(conn, ctx.caller, request.match_info["upload_id"])
    return respond(request, answer.to_wire())


@body_limit(16 * MIB, max_container_len=MAX_LIST)
async def create_upload_batch(request: web.Request) -> web.Response:
    """Create up to 1,000 upload sessions; each answer is a session or ``{"error": ...}``."""
    ctx = await authenticate(request)
    raw = batch.check_items(await read_body(request), "files")
    async with db.transaction(request.app[POOL]) as conn:
        results = await create_batch.create_many(conn, request.app[SETTINGS], ctx.caller, ctx.ns_id, raw)
    answers = [r.to_wire() if isinstance(r, TesseraError) else r.to_batch_wire() for r in results]
    return respond(request, {"uploads": answers})


@body_limit(256 * KIB, max_container_len=batch.MAX_BATCH)
async def commit_upload_batch(request: web.Request) -> web.Response:
    """Commit up to 1,000 upload sessions; each answer is file metadata or ``{"error": ...}``."""
    ctx = await authenticate(request)
    ids = batch.check_items(await read_body(request), "upload_ids")
    metrics = request.app[METRICS]
    with metrics.commit("batch"):
        async with db.transaction(request.app[POOL]) as conn:
            results = await commit_batch.commit_many(conn, ctx.caller, ctx.ns_id, ids)
    answers = [r.to_wire() for r in results]
    metrics.count_batch(answers)
    return respond(request, {"results": answers})


async def list_incoming(request: web.Request) -> web.Response:
    """The namespace's pending uploads of large files by other devices (streaming sync)."""
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        answer = await incoming.list_incoming(conn, ctx.caller, ctx.ns_id)
    return respond(request, answer.to_wire())


async def incoming_blocks(request: web.Request) -> web.Response:
    """One page of a pending upload's block list, with get grants for the stored blocks."""
    ctx = await authenticate(request)
    start = query_int(request, "start", 0, 0, MAX_INT)
    limit = query_int(request, "limit", 1000, 1, 1000)
    async with db.connection(request.app[POOL]) as conn:
        answer = await incoming.incoming_blocks(
            conn, request.app[SETTINGS], ctx.caller, ctx.ns_id, request.match_info["upload_id"], start, limit
        )
    return respond(request, answer.to_wire())
