"""Change feed endpoints: changes, latest_cursor, longpoll."""

from __future__ import annotations

import asyncio
import random

from aiohttp import web

from . import changes, db
from .cursor import Cursor
from .web_auth import authenticate
from .web_common import query_int, respond
from .web_keys import NOTIFIER, POOL

LONGPOLL_MIN, LONGPOLL_MAX, LONGPOLL_DEFAULT = 30, 480, 30
#: above this many held polls, new ones are told to back off instead of waiting
MAX_HELD_POLLS = 100_000
OVERLOAD_BACKOFF = 60


def _cursor(request: web.Request) -> Cursor | None:
    raw = request.query.get("cursor", "")
    return Cursor.decode(raw) if raw else None


async def list_changes(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    limit = query_int(request, "limit", 500, 1, 2000)
    cursor = _cursor(request)
    async with db.transaction(request.app[POOL], isolation="repeatable_read") as conn:
        answer = await changes.page(conn, ctx.ns_id, cursor, limit)
    return respond(request, answer)


async def latest_cursor(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        cursor = await changes.latest(conn, ctx.ns_id)
    return respond(request, {"cursor": cursor.encode()})


async def _has_changes(request: web.Request, ns_id: int, cursor: Cursor) -> bool:
    async with db.connection(request.app[POOL]) as conn:
        last = await conn.fetchval("SELECT last_seq FROM namespaces WHERE id = $1", ns_id)
    changes.check(cursor, ns_id, last)
    return cursor.listing_after is not None or last > cursor.seq


async def longpoll(request: web.Request) -> web.Response:
    """Hold the request until the tree changes after the cursor, or the timeout passes.

    No database connection is held while waiting: the wait is on an in-process
    event that the journal listener sets.
    """
    ctx = await authenticate(request)
    timeout = query_int(request, "timeout", LONGPOLL_DEFAULT, LONGPOLL_MIN, LONGPOLL_MAX)
    raw = request.query.get("cursor", "")
    if not raw:
        return respond(request, {"changes": True})
    cursor = Cursor.decode(raw)
    notifier = request.app[NOTIFIER]
    if notifier.waiting >= MAX_HELD_POLLS:
        return respond(request, {"changes": False, "backoff": OVERLOAD_BACKOFF})
    event = notifier.register(ctx.ns_id)  # before the check, so no commit slips between
    try:
        if await _has_changes(request, ctx.ns_id, cursor):
            return respond(request, {"changes": True})
        # jitter spreads out the reconnects of many clients; never beyond the asked timeout
        wait = timeout - random.uniform(0, timeout * 0.1)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return respond(request, {"changes": False})
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return respond(request, {"changes": False})
            event.clear()
            if notifier.closing:  # the server is shutting down: let the client re-poll elsewhere
                return respond(request, {"changes": False, "backoff": 1})
            # a commit's NOTIFY carries its sequence number: no database round trip per
            # waiter when thousands wake at once; a wake-up without one (the listener
            # reconnected) is confirmed against the journal
            notified = notifier.latest_seq(ctx.ns_id)
            if notified is not None and notified > cursor.seq:
                return respond(request, {"changes": True})
            if await _has_changes(request, ctx.ns_id, cursor):
                return respond(request, {"changes": True})
    finally:
        notifier.unregister(ctx.ns_id, event)
