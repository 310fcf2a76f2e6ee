"""Watching the synced folder for changes (watchfiles: inotify, FSEvents, ...).

The watcher only says *that* something changed; the daemon's scan finds
*what* (cheaply: unchanged files are recognised by size, mtime and inode).
Changes are debounced: a burst of events (an editor's save, a build, an
unpacked archive) becomes one notification once the folder has been quiet for
``step_ms``, or after ``max_ms`` at the latest. Events for ignored paths (our
own temp files, the state folder when it lies inside the synced folder,
``.tesseraignore`` matches) are dropped, so the daemon's own bookkeeping never
wakes it. So is the one event of each file the daemon itself just renamed into
place (:class:`OwnWrites`): a batch of downloads would otherwise make the next
round rescan, and re-hash, every file it wrote before it downloads more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import watchfiles

log = logging.getLogger(__name__)

#: ``is_ignored(rel_path, is_dir)`` with a "/"-separated path relative to the root
IgnoreCheck = Callable[[str, bool], bool]


class OwnWrites:
    """Files the daemon is about to rename into place itself, whose next event is not news.

    :meth:`note` is called right before the rename (from any thread); the first
    ``added`` or ``modified`` event for that path is then dropped, and the note
    with it, so any later event for the path (someone editing the file) wakes
    the daemon as usual. A note whose event never came is forgotten after
    :data:`OWN_WRITE_TTL` seconds. The local tree already holds what was
    written (size, mtime, inode), so a rescan would find nothing new.
    """

    def __init__(self, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._noted: dict[str, float] = {}

    def note(self, path: str | os.PathLike[str]) -> None:
        with self._lock:
            now = self._clock()
            if len(self._noted) > 10_000:  # bounded: drop the expired ones
                self._noted = {p: t for p, t in self._noted.items() if now - t <= self._ttl}
            self._noted[os.fspath(path)] = now

    def consume(self, path: str) -> bool:
        """True (once) if ``path`` was noted within the TTL."""
        with self._lock:
            noted = self._noted.pop(path, None)
        return noted is not None and self._clock() - noted <= self._ttl


class _Filter:
    def __init__(self, root: Path, is_ignored: IgnoreCheck, own: OwnWrites | None = None) -> None:
        self._root = str(root)
        self._is_ignored = is_ignored
        self._own = own

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        if self._own is not None and change != watchfiles.Change.deleted and self._own.consume(path):
            return False
        rel = os.path.relpath(path, self._root)
        if rel == "." or rel.startswith(".." + os.sep):
            return True  # the root itself (or something odd): let the scan decide
        rel = rel.replace(os.sep, "/")
        # no stat on the event loop to tell a file from a folder: drop an event only if the
        # path is ignored either way (a kept event costs at most a needless rescan)
        return not (self._is_ignored(rel, False) and self._is_ignored(rel, True))


async def watch(
    root: Path,
    on_change: Callable[[], None],
    is_ignored: IgnoreCheck,
    *,
    step_ms: int = 50,
    max_ms: int = 2000,
    stop: asyncio.Event | None = None,
    own_writes: OwnWrites | None = None,
) -> None:
    """Call ``on_change()`` after each debounced burst of relevant changes, until cancelled or ``stop``."""
    async for changes in watchfiles.awatch(
        root,
        watch_filter=_Filter(root, is_ignored, own_writes),
        step=step_ms,
        debounce=max_ms,
        stop_event=stop,
        recursive=True,
        ignore_permission_denied=True,
    ):
        log.debug("%d change(s) under %s", len(changes), root)
        on_change()
