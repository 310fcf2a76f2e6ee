"""One connection of the notify endpoint (:mod:`.notify_server`): its requests, parsed and answered.

HTTP/1.1 with keep-alive; requests are parsed by httptools (llhttp). Limits:
a request head of at most ``MAX_HEAD`` bytes and at most ``MAX_QUEUED``
pipelined requests waiting behind the one being answered. A held poll is the
connection itself, registered as a waiter with the notifier.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import parse_qsl

import httptools

from protocol import codec
from protocol.errors import BadRequest, Internal, NotFound, TesseraError, Unauthorized
from protocol.messages.changes import LongPoll

from ..core import db
from ..core.auth import bearer_token, hash_token, lookup_token_hash
from ..core.connections import GuardedProtocol, guard_of
from ..core.metrics import CONTENT_TYPE_LATEST, UNMATCHED
from ..core.ratelimit import check_token_rate
from ..core.requestlog import request_id_from
from . import longpoll as polls
from .cursor import Cursor

if TYPE_CHECKING:
    from .notify_server import NotifyServer

log = logging.getLogger(__name__)
#: one DEBUG line per answered request (a commit can answer 10,000 polls at once: not INFO)
access_log = logging.getLogger("tessera.access")

PATH = "/v1/changes/longpoll"
HEALTH_LIVE = "/v1/health/live"
HEALTH_READY = ("/v1/health/ready", "/v1/health")
METRICS_PATH = "/metrics"
MAX_HEAD = 16 * 1024
MAX_QUEUED = 4

_IDLE, _BUSY, _HELD = 0, 1, 2


class _Request(NamedTuple):
    method: bytes
    url: bytes
    authorization: str | None
    accept: str | None
    content_type: str | None
    keep_alive: bool
    request_id: str | None


class PollConnection(asyncio.Protocol):
    """One client connection of the notify endpoint; a held poll is this object, registered as a waiter."""

    __slots__ = (
        "_server", "_loop", "_transport", "_parser", "_unparsed", "_url", "_headers", "_head_keep_alive",
        "_keep_alive",
        "_queue", "_state", "_ctype", "_ns", "_cursor", "_recheck", "_deadline", "_task", "_guard",
        "_token_hash", "user_id", "_route", "_rid", "_started",
    )  # fmt: skip

    def __init__(self, server: NotifyServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._unparsed = 0
        self._url = b""
        self._headers: dict[bytes, str] = {}
        #: of the request being parsed; ``_keep_alive``: of the request being answered
        self._head_keep_alive = True
        self._keep_alive = True
        self._queue: collections.deque[_Request] = collections.deque()
        self._state = _IDLE
        self._ctype = codec.JSON
        self._ns: int | None = None
        self._cursor: Cursor | None = None
        self._recheck = False
        #: the second (loop clock) at which the held poll times out (NotifyServer.hold_until)
        self._deadline: int | None = None
        self._task: asyncio.Task | None = None
        #: the connection's guard (timeouts: a request is in progress from its head to its answer)
        self._guard: GuardedProtocol | None = None
        #: the token of the request being answered, and its user (None between requests)
        self._token_hash: bytes | None = None
        self.user_id: int | None = None
        #: of the request being answered: its route (for metrics), request id and start (for the log)
        self._route = UNMATCHED
        self._rid = ""
        self._started = 0.0

    @property
    def idle(self) -> bool:
        """No request is being answered (a request may be arriving)."""
        return self._state == _IDLE

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._guard = guard_of(transport)
        self._server.connections.add(self)
        self._server.busy()

    def data_received(self, data: bytes) -> None:
        self._unparsed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(BadRequest("protocol upgrades are not supported here"))
            return
        except httptools.HttpParserError:
            self._refuse(BadRequest("malformed HTTP request"))
            return
        if self._unparsed > MAX_HEAD:  # reset at the end of each request head
            self._refuse(BadRequest(f"request head larger than {MAX_HEAD} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._queue.clear()
        connections = self._server.connections
        connections.discard(self)
        if not connections:
            self._server.drained()

    # -- httptools callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in (b"authorization", b"accept", b"content-type", b"x-request-id"):
            self._headers[name] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._unparsed = 0
        self._head_keep_alive = self._parser.should_keep_alive()

    def on_message_complete(self) -> None:
        h = self._headers
        request = _Request(
            self._parser.get_method(), self._url, h.get(b"authorization"), h.get(b"accept"),
            h.get(b"content-type"), self._head_keep_alive, h.get(b"x-request-id"),
        )  # fmt: skip
        if self._state == _IDLE and not self._queue:
            self._start(request)
        elif len(self._queue) < MAX_QUEUED:
            self._queue.append(request)
        else:
            self._refuse(BadRequest(f"more than {MAX_QUEUED} pipelined requests"))

    # -- one request ----------------------------------------------------------------------------

    def _start(self, request: _Request) -> None:
        if self._guard is not None:
            self._guard.begin()
        self._keep_alive = request.keep_alive
        self._ctype = codec.pick_response_type(request.accept, request.content_type)
        self._route, self._rid, self._started = UNMATCHED, request_id_from(request.request_id), time.perf_counter()
        try:
            url = httptools.parse_url(request.url)
            path = url.path.decode("latin-1")
            if path != PATH:
                if self._serve_other(request.method, path):
                    return
                method = request.method.decode("latin-1")
                raise NotFound(f"no such endpoint: {method} {path} (this is the notify endpoint)")
            self._route = PATH
            if request.method != b"GET":
                raise BadRequest(f"method {request.method.decode('latin-1')} is not allowed on {path}")
            query = dict(parse_qsl(url.query.decode("latin-1"), keep_blank_values=True)) if url.query else {}
            check_token_rate(self._server.limits, request.authorization)
        except httptools.HttpParserInvalidURLError:
            self._error(BadRequest("malformed request URL"))
            return
        except TesseraError as e:
            self._error(e)
            return
        self._state = _BUSY
        self._spawn(self._arrive(request.authorization, query))

    def _serve_other(self, method: bytes, path: str) -> bool:
        """Health and metrics, as on the other ports; False for any other path."""
        if method != b"GET" or path not in (HEALTH_LIVE, METRICS_PATH, *HEALTH_READY):
            return False
        self._route = path
        server = self._server
        if path == HEALTH_LIVE:
            self._send(200, self._ctype, codec.encode({"ok": True}, self._ctype))
        elif path == METRICS_PATH:
            if server.metrics is None:
                return False
            self._send(200, CONTENT_TYPE_LATEST, server.metrics.exposition())
        else:
            self._state = _BUSY
            self._spawn(self._ready())
        return True

    async def _ready(self) -> None:
        readiness = self._server.readiness
        ok, checks = (True, {}) if readiness is None else await readiness.result()
        body: dict = {"ok": ok, "checks": checks}
        if not ok:
            body["error"] = {"code": "unavailable", "message": "not ready"}
        self._send(200 if ok else 503, self._ctype, codec.encode(body, self._ctype))

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self._finish(self._server.answers.body(status, ctype, body, self._keep_alive), self._keep_alive, status)

    async def _arrive(self, authorization: str | None, query: dict[str, str]) -> None:
        server = self._server
        ctx = await server.tokens.authenticate(server.pool, authorization)
        self._token_hash, self.user_id = hash_token(bearer_token(authorization)), ctx.caller.user_id
        timeout = polls.parse_timeout(query.get("timeout"))
        cursor = polls.parse_cursor(query.get("cursor"))
        if cursor is None:
            self._answer(polls.CHANGED)
            return
        if server.notifier.waiting >= polls.MAX_HELD_POLLS:
            self._answer(polls.OVERLOADED)
            return
        self._ns, self._cursor, self._recheck = ctx.ns_id, cursor, True
        server.notifier.register(ctx.ns_id, self)  # before the journal check: no commit slips between
        await self._check()
        if self._state == _HELD:
            self._deadline = server.hold_until(self, self._loop.time() + polls.jittered(timeout))

    async def _check(self) -> None:
        """Answer if the journal moved past the cursor (or the server is closing), else hold the poll."""
        notifier = self._server.notifier
        ns_id, cursor = self._ns, self._cursor
        assert ns_id is not None and cursor is not None
        while True:
            notified = notifier.latest_seq(ns_id)
            if notified is not None and notified > cursor.seq:
                self._answer(polls.CHANGED)
                return
            if notifier.closing:
                self._answer(polls.SHUTTING_DOWN)
                return
            if not self._recheck:
                self._state = _HELD
                return
            self._recheck = False
            if await polls.has_changes(self._server.pool, notifier, ns_id, cursor):
                self._answer(polls.CHANGED)
                return

    def wake(self, seq: int | None) -> None:
        """Called by the notifier: a commit with journal sequence ``seq`` in the namespace polled."""
        if seq is None:
            self._recheck = True
            if self._state == _HELD:  # the listener reconnected or the server is closing: ask again
                self._state = _BUSY
                self._spawn(self._check())
        elif self._state == _HELD and seq > self._cursor.seq:  # type: ignore[union-attr]
            self._answer(polls.CHANGED)
        # while _BUSY, the check in progress reads the notifier's latest sequence number

    def recheck_token(self) -> None:
        """Called when the user's tokens changed: end the request being answered if its token
        no longer works (revoked, user disabled)."""
        token_hash = self._token_hash
        if token_hash is None or self._state == _IDLE:
            return
        task = self._loop.create_task(self._check_token(token_hash))
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    async def _check_token(self, token_hash: bytes) -> None:
        server = self._server
        try:
            async with db.connection(server.pool) as conn:
                await lookup_token_hash(conn, token_hash, server.tokens.idle_expiry)
        except Unauthorized as e:
            if self._token_hash == token_hash and self._state != _IDLE:
                self._error(e)
        except TesseraError as e:  # the database is away: the poll's own checks will see to it
            log.info("cannot re-check a held poll's token: %s", e.message)

    def expire(self) -> None:
        """The poll's time is up (called by the server's timer for its second)."""
        self._deadline = None
        self._answer(polls.UNCHANGED)

    def _spawn(self, coro) -> None:
        task = self._task = self._loop.create_task(self._guarded(coro))
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    async def _guarded(self, coro) -> None:
        try:
            await coro
        except TesseraError as e:
            self._error(e)
        except Exception:
            log.exception("unhandled error in GET %s (notify endpoint)", PATH)
            self._error(Internal())
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    # -- answers -----------------------------------------------------------------------------------

    def _answer(self, answer: LongPoll) -> None:
        closing = self._server.notifier.closing
        keep_alive = self._keep_alive and not closing
        self._finish(self._server.answers.shared(answer, self._ctype, keep_alive), keep_alive, 200)

    def _error(self, err: TesseraError) -> None:
        self._finish(self._server.answers.error(err, self._ctype, self._keep_alive), self._keep_alive, err.status)

    def _refuse(self, err: TesseraError) -> None:
        """A request that cannot be parsed: answer and close (the stream cannot be trusted)."""
        self._queue.clear()
        self._finish(self._server.answers.error(err, self._ctype, False), False, err.status)

    def _release(self) -> None:
        self._token_hash = self.user_id = None
        if self._ns is not None:
            self._server.notifier.unregister(self._ns, self)
            self._ns = self._cursor = None
        if self._deadline is not None:
            self._server.release(self, self._deadline)
            self._deadline = None

    def _finish(self, data: bytes, keep_alive: bool, status: int) -> None:
        self._server.count(self._route, status)
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug(
                "notify %s %d out=%d %.1fms rid=%s", self._route, status, len(data),
                (time.perf_counter() - self._started) * 1000, self._rid,
            )  # fmt: skip
        self._release()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # a check in progress for a request answered otherwise (timeout, bad data)
            self._task = None
        self._state = _IDLE
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if self._guard is not None:
            self._guard.end()
        if not keep_alive:
            transport.close()
        elif self._queue:
            self._start(self._queue.popleft())
