"""``GET /v1/files/revisions`` and ``POST /v1/files/restore`` (metaserver/history.py)."""

from __future__ import annotations

from aiohttp import web

from protocol import paths
from protocol.errors import BadRequest

from . import db, history
from .journal import Journal
from .web_auth import authenticate
from .web_common import query_int, read_body, respond
from .web_files import query_path
from .web_keys import POOL


async def list_revisions(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    path = query_path(request)
    limit = query_int(request, "limit", 100, 1, history.MAX_LIMIT)
    async with db.connection(request.app[POOL]) as conn:
        answer = await history.revisions(conn, ctx.ns_id, path, limit)
    return respond(request, answer)


async def restore(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    body = await read_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be an object with path and rev")
    path, rev = body.get("path"), body.get("rev")
    if not isinstance(path, str):
        raise BadRequest("path must be a string")
    if not isinstance(rev, int) or isinstance(rev, bool) or rev <= 0:
        raise BadRequest("rev must be a positive integer")
    path = paths.normalize(path)
    async with db.transaction(request.app[POOL]) as conn:
        j = await Journal.begin(conn, ctx.ns_id)
        meta = await history.restore(j, path, rev, ctx.caller.device_name, ctx.caller.user_id)
        await j.flush()
    return respond(request, meta)
