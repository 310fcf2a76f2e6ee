"""``GET /v1/usage``: what the caller stores, by role, and what their quota counts (metaserver/tree/usage.py)."""

from __future__ import annotations

from aiohttp import web

from ..core import db
from ..core.http import respond
from ..keys import POOL, SETTINGS
from ..tree import usage
from .auth import authenticate


async def get_usage(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        answer = await usage.report(conn, ctx.caller.user_id, request.app[SETTINGS].retention_days)
    return respond(request, answer.to_wire())
