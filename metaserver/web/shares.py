"""Shared folders: ``/v1/shares`` (create, list, invite, accept, decline, role, remove, leave,
unshare; metaserver/sharing/). Every change runs in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from protocol import paths
from protocol.errors import BadRequest

from ..core import db
from ..core.bodies import read_object
from ..core.callers import Context
from ..core.http import positive_int, respond
from ..keys import POOL
from ..sharing import membership, shares
from .auth import authenticate, str_field

#: a user name is at most 64 characters; a role a word; a path at most 4096 bytes
MAX_NAME = 64
#: tries of a membership change that PostgreSQL ended in a deadlock
DEADLOCK_RETRIES = 3


def _path(body: dict[str, Any], name: str = "path") -> str:
    return paths.normalize(body.get(name))


def _inv_id(body: dict[str, Any]) -> int:
    inv_id = positive_int(body, "id")
    if inv_id >= 1 << 62:  # type: ignore[operator]
        raise BadRequest("id must be a positive integer below 2^62")
    return inv_id  # type: ignore[return-value]


async def _change(
    request: web.Request, work: Callable[[asyncpg.Connection, Context, dict[str, Any]], Awaitable[Any]]
) -> web.Response:
    ctx = await authenticate(request)
    body = await read_object(request)
    for attempt in range(DEADLOCK_RETRIES):
        try:
            async with db.transaction(request.app[POOL]) as conn:
                answer = await work(conn, ctx, body)
            break
        except asyncpg.exceptions.DeadlockDetectedError:
            # a membership change locks namespaces, then rows an upload in flight may hold (its
            # blocks, its session) while that upload waits for the namespace: PostgreSQL ends one
            # of the two; this one is tried again (the upload, if it was the one, answers 503)
            if attempt == DEADLOCK_RETRIES - 1:
                raise
    return respond(request, answer if answer is not None else {})


async def create_share(request: web.Request) -> web.Response:
    async def work(conn, ctx, body):
        ns_id = await shares.create(conn, ctx, _path(body))
        return {"ns_id": ns_id, "path": (await shares.share_root(conn, ctx, _path(body))).prefix}

    return await _change(request, work)


async def list_shares(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        answer = await membership.listing(conn, ctx)
    return respond(request, answer.to_wire())


async def invite(request: web.Request) -> web.Response:
    async def work(conn, ctx, body):
        user = str_field(body, "user", max_len=MAX_NAME)
        return (await membership.invite(conn, ctx, _path(body), user, body.get("role"))).to_wire()

    return await _change(request, work)


async def accept(request: web.Request) -> web.Response:
    async def work(conn, ctx, body):
        at = None if body.get("at") is None else _path(body, "at")
        return {"path": await membership.accept(conn, ctx, _inv_id(body), at)}

    return await _change(request, work)


async def decline(request: web.Request) -> web.Response:
    return await _change(request, lambda conn, ctx, body: membership.decline(conn, ctx, _inv_id(body)))


async def set_role(request: web.Request) -> web.Response:
    async def work(conn, ctx, body):
        user = str_field(body, "user", max_len=MAX_NAME)
        await membership.set_role(conn, ctx, _path(body), user, body.get("role"))

    return await _change(request, work)


async def remove(request: web.Request) -> web.Response:
    async def work(conn, ctx, body):
        await membership.remove(conn, ctx, _path(body), str_field(body, "user", max_len=MAX_NAME))

    return await _change(request, work)


async def leave(request: web.Request) -> web.Response:
    return await _change(request, lambda conn, ctx, body: membership.remove(conn, ctx, _path(body), None))


async def unshare(request: web.Request) -> web.Response:
    async def work(conn, ctx, body):
        return {"path": await shares.unshare(conn, ctx, _path(body))}

    return await _change(request, work)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_post("/v1/shares", create_share)
    r.add_get("/v1/shares", list_shares)
    r.add_post("/v1/shares/invite", invite)
    r.add_post("/v1/shares/accept", accept)
    r.add_post("/v1/shares/decline", decline)
    r.add_post("/v1/shares/role", set_role)
    r.add_post("/v1/shares/remove", remove)
    r.add_post("/v1/shares/leave", leave)
    r.add_post("/v1/shares/unshare", unshare)
