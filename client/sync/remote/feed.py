"""Pulling the change feed into the remote tree, and uploads in progress elsewhere.

:func:`pull` reads every page after the saved cursor and applies each one, with
its cursor, in one state transaction (:meth:`SyncState.apply_changes`), so a
pull interrupted anywhere resumes from the last page applied. An empty cursor
starts with a full listing, whose first page empties the remote tree; a cursor
the server no longer accepts (``cursor_reset``) is dropped and the tree listed
again.

``pending`` entries (another device started an upload) never change the tree:
:class:`PendingUploads` keeps them to show as "being uploaded elsewhere" until
the feed reports the path committed or deleted, or they are a day old (the
server lets an upload session live 24 hours).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.sync.plan.tree import is_under
from client.sync.state.database import META_CURSOR, SyncState
from client.transfer.concurrency import Offload
from protocol import paths
from protocol.errors import CursorReset
from protocol.messages.files import Metadata

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)

#: a pending upload not heard of for this long is forgotten (the server's session lifetime)
PENDING_TTL = 24 * 3600.0
#: our own uploads: pending entries for these paths are ignored for this long after we start one
OWN_UPLOAD_TTL = 3600.0


class PendingUploads:
    """Uploads in progress on other devices, by path key (event loop only)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._elsewhere: dict[str, tuple[str, float]] = {}
        self._own: dict[str, float] = {}

    def started_here(self, path: str) -> None:
        """This daemon opens an upload session for ``path``: its pending entry is not news."""
        self._own[paths.path_key(path)] = self._clock()

    def observe(self, entries: Iterable[Metadata]) -> None:
        now = self._clock()
        for e in entries:
            key = paths.path_key(e.path)
            if e.kind == "pending":
                own = self._own.get(key)
                if own is None or now - own > OWN_UPLOAD_TTL:
                    self._elsewhere[key] = (e.path, now)
            elif e.kind == "deleted":
                for k in [k for k in self._elsewhere if k == key or is_under(k, key)]:
                    del self._elsewhere[k]
            else:
                self._elsewhere.pop(key, None)

    def paths(self) -> list[str]:
        """The paths being uploaded elsewhere, sorted; forgets stale ones."""
        now = self._clock()
        for k in [k for k, (_, seen) in self._elsewhere.items() if now - seen > PENDING_TTL]:
            del self._elsewhere[k]
        for k in [k for k, started in self._own.items() if now - started > OWN_UPLOAD_TTL]:
            del self._own[k]
        return sorted(p for p, _ in self._elsewhere.values())

    def reset(self) -> None:
        self._elsewhere.clear()


@dataclass(frozen=True, slots=True)
class PullResult:
    pages: int
    #: entries that changed the remote tree
    changed: int
    #: the remote tree was listed again from scratch
    relisted: bool


async def pull(
    client: TesseraClient, state: SyncState, pending: PendingUploads, offload: Offload
) -> PullResult:
    """Bring the remote tree up to the feed's current position (see the module docstring)."""
    cursor = await offload(state.get_meta, META_CURSOR) or ""
    try:
        return await _pull_from(client, state, pending, offload, cursor)
    except CursorReset:
        log.warning("the server no longer knows our change-feed cursor; listing the whole tree again")
        await offload(state.set_meta, META_CURSOR, None)
        return await _pull_from(client, state, pending, offload, "")


async def _pull_from(
    client: TesseraClient, state: SyncState, pending: PendingUploads, offload: Offload, cursor: str
) -> PullResult:
    pages = changed = 0
    relisted = False
    async for page in client.iter_changes(cursor):
        if page.reset:
            relisted = True
            pending.reset()
        entries = [e.to_json() for e in page.entries]
        changed += await offload(state.apply_changes, entries, page.cursor, reset=page.reset)
        pending.observe(page.entries)
        pages += 1
    if relisted:
        log.info("listed the remote tree: %d entries", changed)
    return PullResult(pages, changed, relisted)
