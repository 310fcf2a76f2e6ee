"""Journal notifications fanned out to long-polls in this process.

One dedicated PostgreSQL connection per process LISTENs on the journal
channel; every commit (on any metadata server) sends a NOTIFY, and this
process wakes its waiters for that namespace. Waiters hold no database
connection. If the listening connection drops, it is re-opened with backoff
and every waiter is woken so that it re-checks the journal itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict

import asyncpg

from .journal import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._latest: dict[int, int] = {}
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        #: set when the server shuts down: held polls answer at once
        self.closing = False

    @property
    def connected(self) -> bool:
        """Whether the listening connection is up (after an outage it comes back by itself)."""
        return self._connected.is_set()

    @property
    def waiting(self) -> int:
        return sum(len(s) for s in self._waiters.values())

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
                self._conn.add_termination_listener(lambda _c: self._lost.set())
                await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                self._connected.set()
                delay = 0.2
                self._wake_all()  # anything may have happened while we were not listening
                await self._lost.wait()
                log.warning("journal listener connection lost; reconnecting")
            except asyncio.CancelledError:
                if self._conn is not None and not self._conn.is_closed():
                    await self._conn.close()
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("journal listener cannot connect: %s", e)
            self._connected.clear()
            self._wake_all()
            await asyncio.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 5.0)

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            ns_text, _, seq_text = payload.partition(":")
            ns_id, seq = int(ns_text), int(seq_text)
        except ValueError:
            return
        waiters = self._waiters.get(ns_id)
        if not waiters:
            return
        # waiters compare their cursor with this instead of each asking the database
        if seq > self._latest.get(ns_id, -1):
            self._latest[ns_id] = seq
        for ev in waiters:
            ev.set()

    def latest_seq(self, ns_id: int) -> int | None:
        """The highest journal sequence number notified for ``ns_id`` while it had waiters."""
        return self._latest.get(ns_id)

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for ev in events:
                ev.set()

    def register(self, ns_id: int) -> asyncio.Event:
        ev = asyncio.Event()
        self._waiters[ns_id].add(ev)
        return ev

    def unregister(self, ns_id: int, ev: asyncio.Event) -> None:
        waiters = self._waiters.get(ns_id)
        if waiters is not None:
            waiters.discard(ev)
            if not waiters:
                del self._waiters[ns_id]
                self._latest.pop(ns_id, None)
