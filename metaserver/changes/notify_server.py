"""The notify endpoint: long-polls on a minimal HTTP/1.1 server of their own.

The metadata server process serves ``GET /v1/changes/longpoll`` twice: on its
aiohttp port, and here, on the notify port, as Dropbox serves its long-polls
from a separate "notify" host. Same query, same answers, same errors, same
token rate limit, authentication and journal check when a poll arrives; what
differs is the cost of holding and answering one, and that a token checked
here is trusted for ``TOKEN_CACHE_TTL`` seconds (:class:`~metaserver.core.callers.TokenCache`),
so the re-polls of many devices after a commit need no database round trip. A held poll is one
:class:`~metaserver.changes.notify_connection.PollConnection` (an ``asyncio.Protocol``, no task,
no request object) registered with the :class:`~metaserver.changes.notifier.Notifier`; a
commit's NOTIFY calls its ``wake`` and the answer is one ``transport.write`` of bytes built
once for every poll woken in that second (:mod:`metaserver.changes.notify_http`).

:class:`NotifyServer` holds the listening socket, the connections and the timers of held
polls. Its connections are guarded like those of the other ports
(:mod:`metaserver.core.connections`: header and idle timeouts, connections per client
address); a held poll is a request in progress. Each connection parses and answers its own
requests (:mod:`.notify_connection`). A revocation (:mod:`metaserver.core.tokens`) empties the
cache of that user's tokens and ends their polls whose token no longer works, at once
(:meth:`NotifyServer.tokens_changed`).
"""

from __future__ import annotations

import asyncio
import ssl

import asyncpg

from ..core.auth import DEFAULT_IDLE_EXPIRY
from ..core.callers import TokenCache
from ..core.connections import ConnectionLimits, ConnectionTracker
from ..core.health import Readiness
from ..core.metrics import MetaMetrics
from ..core.ratelimit import RateLimits
from .notifier import Notifier
from .notify_connection import PollConnection
from .notify_http import Answers

BACKLOG = 1024


class NotifyServer:
    """The notify endpoint's listening socket and connections, in the metadata server's event loop."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        notifier: Notifier,
        limits: RateLimits,
        idle_expiry: float = DEFAULT_IDLE_EXPIRY,
        *,
        metrics: MetaMetrics | None = None,
        readiness: Readiness | None = None,
        connection_limits: ConnectionLimits = ConnectionLimits(),
    ) -> None:
        self.pool = pool
        self.notifier = notifier
        self.limits = limits
        #: the metadata server's (one process, one registry): served at /metrics here too
        self.metrics = metrics
        #: the metadata server's readiness checks, answered at /v1/health/ready here too
        self.readiness = readiness
        self.answers = Answers()
        self.tokens = TokenCache(idle_expiry=idle_expiry)
        notifier.on_tokens(self.tokens_changed)
        self.connections: set[PollConnection] = set()
        self.tasks: set[asyncio.Task] = set()
        self.guards = ConnectionTracker(connection_limits)
        self._server: asyncio.Server | None = None
        self._drained = asyncio.Event()
        #: held polls by the whole second (event loop clock) at which they time out: one timer
        #: per second instead of one per poll, and a poll answered early leaves by a set removal
        self._deadlines: dict[int, set[PollConnection]] = {}
        self.port = 0

    async def start(self, host: str, port: int, *, ssl: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (0: an ephemeral port), with TLS if ``ssl``; returns the port."""
        loop = asyncio.get_running_loop()
        self.guards.start()
        try:
            self._server = await loop.create_server(
                self.guards.factory(lambda: PollConnection(self)), host, port, backlog=BACKLOG, reuse_address=True,
                ssl=ssl, ssl_handshake_timeout=self.guards.limits.header_timeout if ssl is not None else None,
            )
        except OSError as e:
            await self.guards.close()
            raise OSError(
                e.errno, f"cannot listen on {host}:{port} (notify endpoint; change it with --notify-port): {e.strerror}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting, close idle connections, let answers in flight finish (bounded), abort the rest."""
        self.stop_accepting()
        for conn in tuple(self.connections):
            if conn.idle:
                conn.close()
        if self.connections:
            try:
                async with asyncio.timeout(grace):
                    await self._drained.wait()
            except TimeoutError:
                pass
        for conn in tuple(self.connections):
            conn.abort()
        await self.guards.close()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def tokens_changed(self, user_id: int | None) -> None:
        """A user's tokens were revoked (None: any user's may have been, while the listener was
        away): forget them in the cache, and end that user's requests whose token no longer works."""
        self.tokens.forget(user_id)
        if user_id is None:
            return  # held polls are re-checked when they come back, at the latest after their timeout
        for conn in tuple(self.connections):
            if conn.user_id == user_id:
                conn.recheck_token()

    def count(self, route: str, status: int) -> None:
        """One answered request, for the metrics."""
        if self.metrics is not None:
            self.metrics.notify_requests.labels(route, str(status)).inc()
            if status == 429:
                self.metrics.rate_limited.labels("token").inc()

    def busy(self) -> None:
        """A connection opened."""
        self._drained.clear()

    def drained(self) -> None:
        """The last connection closed."""
        self._drained.set()

    def hold_until(self, conn: PollConnection, when: float) -> int:
        """Time ``conn``'s poll out at ``when`` (loop clock), rounded down to the second; returns the second."""
        second = int(when)
        held = self._deadlines.get(second)
        if held is None:
            held = self._deadlines[second] = set()
            asyncio.get_running_loop().call_at(second, self._expire, second)
        held.add(conn)
        return second

    def release(self, conn: PollConnection, second: int) -> None:
        held = self._deadlines.get(second)
        if held is not None:
            held.discard(conn)

    def _expire(self, second: int) -> None:
        for conn in self._deadlines.pop(second, ()):
            conn.expire()
