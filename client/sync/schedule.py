"""How the sync daemon's tasks and its rounds wake each other: wishes and named timers.

The tasks around the rounds (the long-poller, the watcher, the periodic rescan, retry timers) never
touch the trees: they only say what the next round should do (:class:`Wishes`: pull the change
feed, rescan the folder) and wake the loop that runs the rounds. :class:`Timers` calls a function
later, one timer per name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Wishes:
    """What the next round should do, and the events the daemon's loops wait on (event loop only)."""

    #: rescan the folder before planning
    local_dirty: bool = True
    #: pull the change feed before planning
    remote_dirty: bool = True
    #: a round is wanted
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: set with ``remote_dirty``: a round's downloads may pull beside it (client.sync.alongside)
    pull_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    #: a pull finished (whether it reached the server or not)
    pull_done: asyncio.Event = field(default_factory=asyncio.Event)
    #: the first pull reached the server
    first_pull: asyncio.Event = field(default_factory=asyncio.Event)

    def rescan(self) -> None:
        """Rescan the folder soon."""
        self.local_dirty = True
        self.wake.set()

    def pull(self) -> None:
        """Pull the change feed soon."""
        self.remote_dirty = True
        self.pull_wanted.set()
        self.wake.set()


class Timers:
    """Named one-shot timers on the running event loop."""

    def __init__(self) -> None:
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def later(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` after ``delay`` seconds, unless a timer of that name fires sooner."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, delay)
        current = self._timers.get(name)
        if current is not None and not current.cancelled() and current.when() <= when:
            return
        if current is not None:
            current.cancel()

        def fire() -> None:
            self._timers.pop(name, None)
            fn()

        self._timers[name] = loop.call_at(when, fire)

    def restart(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` after ``delay`` seconds, postponing a timer of that name that would fire sooner."""
        current = self._timers.pop(name, None)
        if current is not None:
            current.cancel()
        self.later(name, delay, fn)

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
