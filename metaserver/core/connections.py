"""Client connections of every port: what one may do before the server closes it.

Each listening socket (the metadata port, the block port, the notify endpoint) wraps every
connection's protocol in a :class:`GuardedProtocol`, and a :class:`ConnectionTracker` checks
them all a few times a second against :class:`ConnectionLimits`:

- **header timeout**: a request head (request line and headers) must be complete within
  ``header_timeout`` of its first byte, and a new connection must send one within
  ``header_timeout`` of opening; past it a partial head is answered 408 and closed;
- **idle timeout**: a kept-alive connection with no request in progress is closed after
  ``idle_timeout``;
- **minimum body rate**: while the server reads a request body, the body must keep coming at
  ``body_min_rate`` bytes a second on average, with at most ``body_timeout`` of credit: a body
  may start ``body_timeout`` late or pause that long, but a client that trickles (one byte a
  minute) is cut off within about ``body_timeout``. Time during which the server does not
  read (its buffer is full because the handler is busy or waits for a slot) does not count;
- **minimum send progress**: an answer the client does not take (the server's send buffer
  does not shrink) for ``body_timeout`` closes the connection;
- **connections per client address**: at most ``max_per_client`` open at once on one port;
  one more is answered 429 ``rate_limited`` and closed.

A handler marks the time a request is in progress with :func:`request_in_progress` (the
aiohttp apps through :func:`connection_middleware`); the rest is seen from the socket. A
long-poll held by the server is a request in progress: none of the timeouts applies to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    body_min_rate: float = 1024.0
    body_timeout: float = 30.0
    #: 0: no limit (behind a proxy every client has the proxy's address)
    max_per_client: int = 256

    def __post_init__(self) -> None:
        for name in ("header_timeout", "idle_timeout", "body_min_rate", "body_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_per_client < 0:
            raise ValueError("max_per_client must be 0 (no limit) or more")

    @property
    def tick(self) -> float:
        """How often the tracker looks at its connections."""
        return max(0.05, min(1.0, self.header_timeout / 4, self.idle_timeout / 4, self.body_timeout / 4))


_IDLE, _HEAD, _REQUEST = "idle", "head", "request"

_TOO_MANY = json.dumps(
    {"error": {"code": "rate_limited", "message": "too many connections from your address; retry in a moment"}}
).encode()
REFUSED = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_TOO_MANY), _TOO_MANY)
)
_TIMEOUT = json.dumps({"error": {"code": "bad_request", "message": "the request head took too long"}}).encode()
TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT), _TIMEOUT)
)


class GuardedProtocol(asyncio.Protocol):
    """A connection's real protocol, wrapped: every event is passed on; the guard keeps the times."""

    def __init__(self, inner: asyncio.Protocol, tracker: ConnectionTracker) -> None:
        self.inner = inner
        self.tracker = tracker
        self.transport: asyncio.Transport | None = None
        self.address = ""
        self.state = _IDLE
        #: when the current state's time is up (loop clock); None: no limit now
        self.deadline: float | None = None
        #: the body being received (a StreamReader) while a request is in progress, if any
        self._body: Any = None
        self._write_size = 0
        self._write_deadline: float | None = None
        self._admitted = False

    # -- asyncio.Protocol, passed on ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self.tracker.admit(self):
            transport.write(REFUSED)  # type: ignore[attr-defined]
            transport.close()
            return
        self._admitted = True
        # a new connection waits for its first head: the header timeout runs from now
        self.state = _HEAD
        self.deadline = self.tracker.now() + self.tracker.limits.header_timeout
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        now = self.tracker.now()
        if self.state == _IDLE:  # the first byte of the next request: its head is now due
            self.state = _HEAD
            self.deadline = now + self.tracker.limits.header_timeout
        elif self.state == _REQUEST and self.deadline is not None:
            limits = self.tracker.limits
            self.deadline = min(self.deadline + len(data) / limits.body_min_rate, now + limits.body_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self.tracker.release(self)
        self._body = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- what the handlers say -------------------------------------------------------------

    def begin(self, body: Any = None) -> None:
        """A request's head is in; ``body``: its StreamReader (``is_eof()`` once all of it is in)."""
        self.state = _REQUEST
        self._body = body
        has_body = body is not None and not body.is_eof()
        self.deadline = self.tracker.now() + self.tracker.limits.body_timeout if has_body else None

    def end(self) -> None:
        """The request is answered (or its answer is on its way): the connection idles."""
        self.state = _IDLE
        self._body = None
        self.deadline = self.tracker.now() + self.tracker.limits.idle_timeout

    # -- the tracker's look ---------------------------------------------------------------------

    def check(self, now: float, elapsed: float) -> None:
        """Close the connection if its time is up (called every ``tick`` seconds)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._stalled_send(now, transport):
            log.info("closing a connection from %s: the client takes no answer", self.address)
            transport.abort()
            return
        if self.state == _REQUEST:
            body = self._body
            if body is None or body.is_eof():
                self.deadline = None  # all of the body is in: the handler's time is its own
            elif self.deadline is not None and not transport.is_reading():
                self.deadline += elapsed  # the server is not reading: not the client's time
        if self.deadline is None or now < self.deadline:
            return
        log.info("closing a connection from %s: %s timeout", self.address, self.state)
        if self.state == _HEAD:
            transport.write(TIMED_OUT)
            transport.close()
        else:
            transport.abort()

    def _stalled_send(self, now: float, transport: asyncio.Transport) -> bool:
        size = transport.get_write_buffer_size()
        if not size:
            self._write_size, self._write_deadline = 0, None
            return False
        if self._write_deadline is None or size < self._write_size:
            self._write_deadline = now + self.tracker.limits.body_timeout
        else:
            # an idle connection with an answer still going out is not idle
            if self.state == _IDLE and self.deadline is not None:
                self.deadline = max(self.deadline, now + self.tracker.tick())
        self._write_size = size
        return now >= self._write_deadline


class ConnectionTracker:
    """The guarded connections of one listening socket, checked every ``limits.tick`` seconds."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.connections: set[GuardedProtocol] = set()
        self._per_address: Counter[str] = Counter()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def tick(self) -> float:
        return self.limits.tick

    def guard(self, inner: asyncio.Protocol) -> GuardedProtocol:
        return GuardedProtocol(inner, self)

    def factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], GuardedProtocol]:
        """A protocol factory for ``loop.create_server`` that guards what ``make`` makes."""
        return lambda: GuardedProtocol(make(), self)

    def admit(self, conn: GuardedProtocol) -> bool:
        cap = self.limits.max_per_client
        if cap and self._per_address[conn.address] >= cap:
            log.warning("refused a connection from %s: %d open already", conn.address, cap)
            return False
        self._per_address[conn.address] += 1
        self.connections.add(conn)
        return True

    def release(self, conn: GuardedProtocol) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self._per_address[conn.address] -= 1
            if self._per_address[conn.address] <= 0:
                del self._per_address[conn.address]

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = self._loop.create_task(self._watch(), name="connection-guard")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def check_all(self, elapsed: float) -> None:
        now = self.now()
        for conn in tuple(self.connections):
            conn.check(now, elapsed)

    async def _watch(self) -> None:
        last = self.now()
        while True:
            await asyncio.sleep(self.limits.tick)
            now = self.now()
            try:
                self.check_all(now - last)
            except Exception:  # never let one bad connection stop the guard of all the others
                log.exception("connection guard: check failed")
            last = now


def guard_of(transport: asyncio.BaseTransport | None) -> GuardedProtocol | None:
    """The guard of a connection, if it has one (a server started without guards has none)."""
    if transport is None:
        return None
    protocol = transport.get_protocol()
    return protocol if isinstance(protocol, GuardedProtocol) else None


@contextlib.contextmanager
def request_in_progress(transport: asyncio.BaseTransport | None, body: Any = None) -> Iterator[None]:
    """Mark a request in progress on its connection (no idle or head timeout meanwhile)."""
    guard = guard_of(transport)
    if guard is not None:
        guard.begin(body)
    try:
        yield
    finally:
        if guard is not None:
            guard.end()


@web.middleware
async def connection_middleware(request: web.Request, handler):
    """The aiohttp side of the guard: a request is in progress from its handler's start to its end."""
    with request_in_progress(request.transport, request.content):
        return await handler(request)
