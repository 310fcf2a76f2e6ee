"""``GET /v1/files/revisions`` and ``POST /v1/files/restore`` (metaserver/tree/history.py)."""

from __future__ import annotations

from aiohttp import web

from protocol.errors import BadRequest

from ..core import db
from ..core.bodies import read_object
from ..core.http import positive_int, query_int, respond
from ..keys import POOL
from ..tree import history
from .auth import authenticate
from .files import journaled, query_path


async def list_revisions(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    path = query_path(request)
    limit = query_int(request, "limit", 100, 1, history.MAX_LIMIT)
    async with db.connection(request.app[POOL]) as conn:
        answer = await history.revisions(conn, ctx.ns_id, path, limit)
    return respond(request, answer.to_wire())


async def restore(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    body = await read_object(request)
    path, rev = body.get("path"), positive_int(body, "rev")
    if not isinstance(path, str):
        raise BadRequest("path must be a string")
    caller = ctx.caller
    return await journaled(
        request, ctx.ns_id, lambda j: history.restore(j, path, rev, caller.device_name, caller.user_id)
    )
