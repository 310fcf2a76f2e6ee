"""``GET /v1/files/revisions`` and ``POST /v1/files/restore`` (metaserver/tree/history.py)."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from protocol.messages.files import Restore

from ..core import db, members
from ..core.bodies import read_body
from ..core.http import query_int, respond
from ..keys import POOL
from ..tree import history
from .auth import authenticate
from .files import journaled, place_of, query_path


async def list_revisions(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    path = query_path(request)
    limit = query_int(request, "limit", 100, 1, history.MAX_LIMIT)
    place = await place_of(request, ctx, path)
    async with db.connection(request.app[POOL]) as conn:
        answer = await history.revisions(conn, place.ns_id, place.path, limit)
    outer = dataclasses.replace(place.out(answer), revisions=[place.out(r) for r in answer.revisions])
    return respond(request, outer.to_wire())


async def restore(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    req = Restore.from_wire(await read_body(request))
    place = await place_of(request, ctx, req.path, members.WRITE)
    return await journaled(request, ctx, lambda j: history.restore(j, place.path, rev=req.rev, number=req.version), place)
