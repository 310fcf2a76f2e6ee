"""Journal notifications fanned out to long-polls in this process.

One dedicated PostgreSQL connection per process LISTENs on the journal
channel; every commit (on any metadata server) sends a NOTIFY with its
namespace and sequence number, and this process wakes its waiters for that
namespace. Waiters hold no database connection and no task: a waiter is any
object with a ``wake(seq)`` method, called synchronously on the event loop,
so waking N polls costs N method calls. They are made ``WAKE_SLICE`` at a
time, one slice per event-loop turn: between slices the loop runs whatever
else is ready (the committing request's own answer first of all), so a
namespace with 10,000 held polls does not stop the process for the whole
fan-out. A waiter that unregistered before its slice came is not woken. If
the listening connection drops, it is re-opened with backoff and every waiter
is woken with ``seq=None``: it must then re-check the journal itself.

The notifier also knows a namespace's last journal sequence number while it
can: a long-poll that read it from the database (:meth:`Notifier.learn`)
while the listener was up and the namespace had waiters, raised by every
NOTIFY since, is the namespace's last sequence number but for NOTIFYs still
in flight, which wake the polls registered by then anyway. The next polls of
that namespace check their cursor against it without a database round trip
(:func:`metaserver.changes.longpoll.has_changes`). The knowledge is dropped when the
namespace's last waiter leaves, and whenever every waiter is told to
ask the journal itself (the listener connection dropped or came back).

The same connection LISTENs for revocations (:data:`~metaserver.core.tokens.TOKENS_CHANNEL`,
the payload a user id): the notifier calls each function given to :meth:`Notifier.on_tokens`
with that user id, or with None when the listener (re)connects (a revocation may have been
missed meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import asyncpg

from ..core.tokens import TOKENS_CHANNEL
from ..tree.journal import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from ..core.db import DatabaseStatus
    from ..core.metrics import MetaMetrics

log = logging.getLogger(__name__)

#: waiters woken per event-loop turn (see the module docstring)
WAKE_SLICE = 256


class Waiter(Protocol):
    def wake(self, seq: int | None) -> None:
        """A commit with journal sequence ``seq`` happened in the namespace waited on;
        ``None``: something may have happened (listener reconnected, or shutdown)."""


class EventWaiter:
    """A waiter for a coroutine: ``wake`` records the highest sequence number and sets ``event``."""

    __slots__ = ("event", "seq", "recheck", "token_changed")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.seq = -1
        #: woken without a sequence number: the journal must be asked
        self.recheck = False
        #: the user's tokens changed (:meth:`Notifier.watch_tokens`): the token must be checked again
        self.token_changed = False

    def wake(self, seq: int | None) -> None:
        if seq is None:
            self.recheck = True
        elif seq > self.seq:
            self.seq = seq
        self.event.set()


class Notifier:
    def __init__(
        self, dsn: str, *, metrics: MetaMetrics | None = None, status: DatabaseStatus | None = None
    ) -> None:
        self._dsn = dsn
        self._metrics = metrics
        #: the server's database status (shared with its pool): an outage is logged once, by
        #: whichever notices it first; without one, the notifier logs its own outages once
        self._status = status
        #: when the listener went down (None: up, or never connected)
        self._down_since: float | None = None
        self._waiters: dict[int, set[Waiter]] = {}
        self._count = 0
        self._latest: dict[int, int] = {}
        #: namespaces' last journal sequence numbers, known as the module docstring says
        self._known: dict[int, int] = {}
        #: bumped whenever the listener connection drops: what was read before is not known
        self._generation = 0
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        #: set when the server shuts down: held polls answer at once
        self.closing = False
        #: called with a user id whose tokens changed (None: any user's may have)
        self._token_listeners: list[Callable[[int | None], None]] = []
        #: event waiters told when their user's tokens change, by user id
        self._token_waiters: dict[int, set[EventWaiter]] = {}

    @property
    def connected(self) -> bool:
        """Whether the listening connection is up (after an outage it comes back by itself)."""
        return self._connected.is_set()

    @property
    def waiting(self) -> int:
        """Waiters registered now, over all namespaces."""
        return self._count

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="journal-listener")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=10)
        except TimeoutError:
            log.warning("journal listener not connected yet; long-polls fall back to their timeout")

    def begin_shutdown(self) -> None:
        self.closing = True
        self._wake_all()

    async def close(self) -> None:
        self.closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._wake_all()

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                self._conn = await asyncpg.connect(self._dsn)
                self._lost.clear()
                self._conn.add_termination_listener(self._on_lost)
                await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                await self._conn.add_listener(TOKENS_CHANNEL, self._on_tokens_notify)
                self._up()
                delay = 0.2
                self._wake_all()  # anything may have happened while we were not listening
                self._tokens_changed(None)
                await self._lost.wait()
                self._down("connection lost")
            except asyncio.CancelledError:
                if self._conn is not None and not self._conn.is_closed():
                    await self._conn.close()
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                self._down(f"cannot connect: {e}")
            self._connected.clear()
            if self._metrics is not None:
                self._metrics.notify_listener_up.set(0)
            self._forget()
            self._wake_all()
            await asyncio.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 5.0)

    def _up(self) -> None:
        self._connected.set()
        if self._metrics is not None:
            self._metrics.notify_listener_up.set(1)
        if self._down_since is not None:
            log.info("journal listener reconnected after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None
        if self._status is not None:
            self._status.ok()

    def _down(self, why: str) -> None:
        """One WARNING per outage (the server's, if it shares its status); retries are DEBUG."""
        first = self._down_since is None
        if first:
            self._down_since = time.monotonic()
        if self._status is not None:
            self._status.failed(ConnectionError(f"journal listener {why}"), refused=False)
        elif first:
            log.warning("journal listener %s; reconnecting (long-polls wake at their timeout meanwhile)", why)
        if not first or self._status is not None:
            log.debug("journal listener %s; retrying", why)

    def _on_lost(self, _conn) -> None:
        self._forget()
        self._lost.set()

    def _forget(self) -> None:
        self._generation += 1
        self._known.clear()

    @property
    def generation(self) -> int:
        """Take it before reading a namespace's last sequence number; hand it to :meth:`learn`."""
        return self._generation

    def learn(self, ns_id: int, last_seq: int, generation: int) -> None:
        """``last_seq`` was read from the database for ``ns_id`` (which has a waiter) since ``generation``."""
        if generation == self._generation and self.connected and ns_id in self._waiters:
            self._known[ns_id] = max(last_seq, self._latest.get(ns_id, -1), self._known.get(ns_id, -1))

    def known_last_seq(self, ns_id: int) -> int | None:
        """The namespace's last journal sequence number but for NOTIFYs in flight; None: ask the database."""
        return self._known.get(ns_id)

    def on_tokens(self, listener: Callable[[int | None], None]) -> None:
        """Call ``listener(user_id)`` when a user's tokens are revoked (None: any user's may have been)."""
        self._token_listeners.append(listener)

    def _on_tokens_notify(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            user_id = int(payload)
        except ValueError:
            return
        self._tokens_changed(user_id)

    def watch_tokens(self, user_id: int, waiter: EventWaiter) -> None:
        """Set ``waiter.token_changed`` and its event when ``user_id``'s tokens are revoked."""
        self._token_waiters.setdefault(user_id, set()).add(waiter)

    def unwatch_tokens(self, user_id: int, waiter: EventWaiter) -> None:
        waiters = self._token_waiters.get(user_id)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._token_waiters[user_id]

    def _tokens_changed(self, user_id: int | None) -> None:
        for waiter in tuple(self._token_waiters.get(user_id, ())) if user_id is not None else ():
            waiter.token_changed = True
            waiter.event.set()
        for listener in tuple(self._token_listeners):
            try:
                listener(user_id)
            except Exception:  # one listener's bug must not keep the others from hearing it
                log.exception("token listener failed")

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            ns_text, _, seq_text = payload.partition(":")
            ns_id, seq = int(ns_text), int(seq_text)
        except ValueError:
            return
        waiters = self._waiters.get(ns_id)
        if not waiters:
            return
        # a poll that registers while its journal check runs compares its cursor with this
        if seq > self._latest.get(ns_id, -1):
            self._latest[ns_id] = seq
        known = self._known.get(ns_id)
        if known is not None and seq > known:
            self._known[ns_id] = seq
        # a woken waiter may unregister itself
        self._wake_slice(ns_id, seq, tuple(waiters), 0, time.perf_counter())

    def _wake_slice(self, ns_id: int, seq: int, waiters: tuple[Waiter, ...], start: int, since: float) -> None:
        """Wake ``waiters[start:start + WAKE_SLICE]`` still registered; the next slice on the loop's next turn."""
        end = start + WAKE_SLICE
        registered = self._waiters.get(ns_id, ())
        for waiter in waiters[start:end]:
            if waiter in registered:
                waiter.wake(seq)
        if end < len(waiters):
            asyncio.get_running_loop().call_soon(self._wake_slice, ns_id, seq, waiters, end, since)
        elif self._metrics is not None:
            self._metrics.wakeups.observe(time.perf_counter() - since)
            self._metrics.polls_woken.inc(len(waiters))

    def latest_seq(self, ns_id: int) -> int | None:
        """The highest journal sequence number notified for ``ns_id`` while it had waiters."""
        return self._latest.get(ns_id)

    def _wake_all(self) -> None:
        """Every waiter must ask the journal itself: so must the checks after this (nothing is known)."""
        self._forget()
        for waiters in tuple(self._waiters.values()):
            for waiter in tuple(waiters):
                waiter.wake(None)

    def register(self, ns_id: int, waiter: Waiter) -> None:
        waiters = self._waiters.get(ns_id)
        if waiters is None:
            waiters = self._waiters[ns_id] = set()
        if waiter not in waiters:
            waiters.add(waiter)
            self._count += 1

    def unregister(self, ns_id: int, waiter: Waiter) -> None:
        waiters = self._waiters.get(ns_id)
        if waiters is not None and waiter in waiters:
            waiters.discard(waiter)
            self._count -= 1
            if not waiters:
                del self._waiters[ns_id]
                self._latest.pop(ns_id, None)
                self._known.pop(ns_id, None)
