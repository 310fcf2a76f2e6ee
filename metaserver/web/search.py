"""``GET /v1/search``: names that match a query, in everything the caller can see, a page at a time."""

from __future__ import annotations

from aiohttp import web

from protocol.messages.search import SearchPage, SearchRequest

from ..core import db
from ..core.http import respond
from ..core.ratelimit import RATE_LIMITS, check_search_rate
from ..keys import POOL, SETTINGS
from ..search import cursor, mount_points, query, scope
from ..sharing import places
from .auth import authenticate


async def search(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    asked = SearchRequest.from_params(request.query)
    check_search_rate(request.app[RATE_LIMITS], ctx.caller.user_id)
    secret = request.app[SETTINGS].grant_secret
    after = cursor.decode(secret, ctx.caller.user_id, asked)
    # one snapshot for the mounts and both phases of a page (metaserver/search/query.py)
    async with db.transaction(request.app[POOL], isolation="repeatable_read") as conn:
        mounts = await places.mounts_of(conn, ctx.caller.user_id)
        scopes = scope.scopes(scope.visible_mounts(ctx.ns_id, [(m.ns_id, m.path) for m in mounts]), asked.path)
        rows = await query.page(
            conn, scopes, asked.folded, kind=asked.type, deleted=asked.deleted, after=after, limit=asked.limit + 1
        )
    points = [mount_points.MountPoint(m.ns_id, m.path, m.since) for m in mounts]
    found = mount_points.merged(
        mount_points.matches(points, asked.folded, kind=asked.type, under=asked.path, after=after),
        [(query.position(r), query.match(r)) for r in rows],
        asked.limit + 1,
    )
    has_more = len(found) > asked.limit
    found = found[: asked.limit]
    next_cursor = cursor.encode(secret, ctx.caller.user_id, asked, found[-1][0]) if found else asked.cursor
    return respond(request, SearchPage([m for _, m in found], next_cursor, has_more).to_wire())
