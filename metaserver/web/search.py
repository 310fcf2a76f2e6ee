"""``GET /v1/search``: names that match a query, in everything the caller can see, a page at a time."""

from __future__ import annotations

from aiohttp import web

from protocol.messages.search import SearchPage, SearchRequest

from ..core import db
from ..core.http import respond
from ..core.ratelimit import RATE_LIMITS, check_search_rate
from ..keys import POOL, SETTINGS
from ..search import cursor, query, scope
from .auth import authenticate


async def search(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    asked = SearchRequest.from_params(request.query)
    check_search_rate(request.app[RATE_LIMITS], ctx.caller.user_id)
    secret = request.app[SETTINGS].grant_secret
    after = cursor.decode(secret, ctx.caller.user_id, asked)
    scopes = scope.scopes(scope.visible_mounts(ctx.ns_id), asked.path)
    # one snapshot for both phases of a page (metaserver/search/query.py)
    async with db.transaction(request.app[POOL], isolation="repeatable_read") as conn:
        rows = await query.page(
            conn, scopes, asked.folded, kind=asked.type, deleted=asked.deleted, after=after, limit=asked.limit + 1
        )
    has_more = len(rows) > asked.limit
    rows = rows[: asked.limit]
    next_cursor = cursor.encode(secret, ctx.caller.user_id, asked, query.position(rows[-1])) if rows else asked.cursor
    return respond(request, SearchPage([query.match(r) for r in rows], next_cursor, has_more).to_wire())
