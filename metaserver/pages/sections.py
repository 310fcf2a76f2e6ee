"""``/trash``, ``/devices``, ``/account`` and ``/search``: pages whose contents the page's
script reads from the API (``GET /v1/trash``, ``/v1/devices``, ``/v1/usage``, ``/v1/search``)
and acts on through it; where this server has no such route yet, the page says so."""

from __future__ import annotations

from aiohttp import web

from ..core import db, users
from ..keys import POOL
from . import render
from .browse import authenticated

MAX_QUERY = 256


async def trash(request: web.Request) -> web.Response:
    await authenticated(request)
    return render.page(request, "trash.html", {"title": "Trash"})


async def devices(request: web.Request) -> web.Response:
    await authenticated(request)
    return render.page(request, "devices.html", {"title": "Devices"})


async def account(request: web.Request) -> web.Response:
    ctx = await authenticated(request)
    async with db.connection(request.app[POOL]) as conn:
        quota = await conn.fetchval("SELECT quota_bytes FROM users WHERE id = $1", ctx.caller.user_id)
        used = await users.used_bytes(conn, ctx.caller.user_id)
    return render.page(request, "account.html", {
        "title": "Account", "quota": quota, "used": used, "device": ctx.caller.device_name,
        "percent": None if not quota else min(100.0, 100.0 * used / quota),
    })  # fmt: skip


async def search(request: web.Request) -> web.Response:
    await authenticated(request)
    query = request.query.get("q", "")[:MAX_QUERY]
    return render.page(request, "search.html", {"title": f"Search: {query}" if query else "Search", "query": query})
