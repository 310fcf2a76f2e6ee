"""Upload session endpoints: create, status, commit."""

from __future__ import annotations

from aiohttp import web

from protocol.errors import BadRequest

from . import batch, db, uploads
from .web_auth import authenticate
from .web_common import read_body, respond
from .web_keys import CONFIG, POOL


async def create_upload(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    req = uploads.UploadRequest.from_wire(await read_body(request))
    async with db.transaction(request.app[POOL]) as conn:
        answer = await uploads.create(conn, request.app[CONFIG], ctx.caller, ctx.ns_id, req)
    return respond(request, answer)


async def upload_status(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.transaction(request.app[POOL]) as conn:
        answer = await uploads.status(conn, request.app[CONFIG], ctx.caller, request.match_info["upload_id"])
    return respond(request, answer)


async def commit_upload(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.transaction(request.app[POOL]) as conn:
        answer = await uploads.commit(conn, ctx.caller, request.match_info["upload_id"])
    return respond(request, answer)


async def create_upload_batch(request: web.Request) -> web.Response:
    """Create up to 1,000 upload sessions; each answer is a session or ``{"error": ...}``."""
    ctx = await authenticate(request)
    raw = batch.check_items(await read_body(request), "files")
    config = request.app[CONFIG]

    async def one(item, journal):
        req = uploads.UploadRequest.from_wire(item)
        return await uploads.create(conn, config, ctx.caller, ctx.ns_id, req, journal)

    async with db.transaction(request.app[POOL]) as conn:
        results = await batch.run(conn, ctx.ns_id, raw, one)
    return respond(request, {"uploads": results})


async def commit_upload_batch(request: web.Request) -> web.Response:
    """Commit up to 1,000 upload sessions; each answer is file metadata or ``{"error": ...}``."""
    ctx = await authenticate(request)
    ids = batch.check_items(await read_body(request), "upload_ids")

    async def one(upload_id, journal):
        if not isinstance(upload_id, str):
            raise BadRequest("upload ids are strings")
        return await uploads.commit(conn, ctx.caller, upload_id, journal)

    async with db.transaction(request.app[POOL]) as conn:
        results = await batch.run(conn, ctx.ns_id, ids, one)
    return respond(request, {"results": results})
