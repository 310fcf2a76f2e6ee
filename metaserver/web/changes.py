"""Change feed endpoints: changes, latest_cursor, longpoll (and where the notify endpoint is)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from yarl import URL

from protocol import codec
from protocol.messages.changes import LongPoll

from ..changes import feed, notify_connection
from ..changes import longpoll as polls
from ..changes.cursor import Cursor
from ..changes.notifier import EventWaiter
from ..core import db
from ..core.http import query_int, respond
from ..keys import NOTIFIER, NOTIFY_SERVER, POOL, SETTINGS
from .auth import authenticate


def _cursor(request: web.Request) -> Cursor | None:
    return polls.parse_cursor(request.query.get("cursor"))


async def list_changes(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    limit = query_int(request, "limit", 500, 1, 2000)
    cursor = _cursor(request)
    async with db.transaction(request.app[POOL], isolation="repeatable_read") as conn:
        answer = await feed.page(conn, ctx.ns_id, cursor, limit)
    return respond(request, answer.to_wire())


async def latest_cursor(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        cursor = await feed.latest(conn, ctx.ns_id)
    return respond(request, {"cursor": cursor.encode()})


async def longpoll(request: web.Request) -> web.Response:
    """Hold the request until the tree changes after the cursor, or the timeout passes.

    No database connection is held while waiting: the wait is on a waiter that
    the journal listener wakes with the commit's sequence number. Clients use the
    notify endpoint (:mod:`metaserver.changes.notify_server`) for the same thing at a
    fraction of the cost per answer; this route stays for older clients and curl.
    """
    ctx = await authenticate(request)
    timeout = polls.parse_timeout(request.query.get("timeout"))
    cursor = polls.parse_cursor(request.query.get("cursor"))
    if cursor is None:
        return _answer(request, polls.CHANGED)
    notifier = request.app[NOTIFIER]
    if notifier.waiting >= polls.MAX_HELD_POLLS:
        return _answer(request, polls.OVERLOADED)
    waiter = EventWaiter()
    notifier.register(ctx.ns_id, waiter)  # before the check, so no commit slips between
    notifier.watch_tokens(ctx.caller.user_id, waiter)  # a revocation ends the poll at once
    try:
        if await polls.has_changes(request.app[POOL], notifier, ctx.ns_id, cursor):
            return _answer(request, polls.CHANGED)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + polls.jittered(timeout)
        while True:
            # a commit's NOTIFY carries its sequence number: no database round trip per
            # waiter when thousands wake at once (also covers a NOTIFY that came during the check)
            notified = notifier.latest_seq(ctx.ns_id)
            if notified is not None and notified > cursor.seq:
                return _answer(request, polls.CHANGED)
            if notifier.closing:  # the server is shutting down: let the client re-poll elsewhere
                return _answer(request, polls.SHUTTING_DOWN)
            if waiter.token_changed:  # the user's tokens were revoked: is this one still good?
                waiter.token_changed = False
                await authenticate(request)
            if waiter.recheck:  # woken without a sequence number (the listener reconnected)
                waiter.recheck = False
                if await polls.has_changes(request.app[POOL], notifier, ctx.ns_id, cursor):
                    return _answer(request, polls.CHANGED)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return _answer(request, polls.UNCHANGED)
            try:
                async with asyncio.timeout(remaining):
                    await waiter.event.wait()
            except TimeoutError:
                return _answer(request, polls.UNCHANGED)
            waiter.event.clear()
    finally:
        notifier.unregister(ctx.ns_id, waiter)
        notifier.unwatch_tokens(ctx.caller.user_id, waiter)


def _answer(request: web.Request, answer: LongPoll) -> web.Response:
    """One of the shared long-poll answers, its body encoded once per content type for all polls."""
    ctype = codec.pick_response_type(request.headers.get("Accept"), request.headers.get("Content-Type"))
    return web.Response(body=polls.encoded(answer, ctype), content_type=ctype)


#: listening on every address: no host name to tell clients
_WILDCARDS = ("", "0.0.0.0", "::", "[::]")


async def notify_endpoint(request: web.Request) -> web.Response:
    """Where clients should long-poll: the notify endpoint's URL (``{"url"}``).

    ``--notify-url`` if set; else the scheme and host of ``--public-url`` on the notify port;
    else the address the server listens on (https when it serves TLS itself, ``--tls-cert``: the
    notify port does too). Only a server listening on every address, with neither set, names the
    host the client asked for (its Host header); the client refuses a notify URL on another host
    or with a weaker scheme than its server URL in any case.
    """
    await authenticate(request)
    settings = request.app[SETTINGS]
    if settings.notify_url:
        return respond(request, {"url": settings.notify_url.rstrip("/") + notify_connection.PATH})
    port = request.app[NOTIFY_SERVER].port
    if settings.public_url:
        base = URL(settings.public_url)
    elif settings.host not in _WILDCARDS:
        base = URL.build(scheme="https" if settings.tls_cert else "http", host=settings.host)
    else:
        base = request.url
    url = base.with_port(port).with_path(notify_connection.PATH).with_query(None).with_fragment(None)
    return respond(request, {"url": str(url)})
