"""``GET /v1/files/revisions`` and ``POST /v1/files/restore`` (metaserver/tree/history.py)."""

from __future__ import annotations

from aiohttp import web

from protocol.messages.files import Restore

from ..core import db
from ..core.bodies import read_body
from ..core.http import query_int, respond
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
    req = Restore.from_wire(await read_body(request))
    return await journaled(request, ctx, lambda j: history.restore(j, req.path, rev=req.rev, number=req.version))
