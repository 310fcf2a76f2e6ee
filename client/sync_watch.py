"""Watching the synced folder for changes (watchfiles: inotify, FSEvents, ...).

The watcher only says *that* something changed; the daemon's scan finds
*what* (cheaply: unchanged files are recognised by size, mtime and inode).
Changes are debounced: a burst of events (an editor's save, a build, an
unpacked archive) becomes one notification once the folder has been quiet for
``step_ms``, or after ``max_ms`` at the latest. Events for ignored paths (our
own temp files, the state folder when it lies inside the synced folder,
``.tesseraignore`` matches) are dropped, so the daemon's own bookkeeping never
wakes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

import watchfiles

log = logging.getLogger(__name__)

#: ``is_ignored(rel_path, is_dir)`` with a "/"-separated path relative to the root
IgnoreCheck = Callable[[str, bool], bool]


class _Filter:
    def __init__(self, root: Path, is_ignored: IgnoreCheck) -> None:
        self._root = str(root)
        self._is_ignored = is_ignored

    def __call__(self, _change: watchfiles.Change, path: str) -> bool:
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
) -> None:
    """Call ``on_change()`` after each debounced burst of relevant changes, until cancelled or ``stop``."""
    async for changes in watchfiles.awatch(
        root,
        watch_filter=_Filter(root, is_ignored),
        step=step_ms,
        debounce=max_ms,
        stop_event=stop,
        recursive=True,
        ignore_permission_denied=True,
    ):
        log.debug("%d change(s) under %s", len(changes), root)
        on_change()
