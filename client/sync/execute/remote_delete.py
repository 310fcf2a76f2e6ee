"""Deleting on the server without losing what another device commits at the same moment.

A file is deleted with ``if_rev``, the revision the remote tree holds: the
server deletes it only if it is still that revision (else a Conflict, which
is :class:`RemoteChanged` here). A folder goes with everything in it, and the
plan decided that from the remote tree as of the last pull, so
:class:`RemoteDeleter` also brackets the call with two reads of the change
feed:

1. before: everything committed after our cursor. Anything at or below the
   path that the remote tree does not know (a new revision, a new entry, an
   upload under way) means the deletion is stale: :class:`RemoteChanged`, and
   the daemon pulls and plans again (the plan then keeps what is new);
2. the delete itself;
3. after (a folder, or a file the remote tree has no revision for): what
   was committed between the first read and the delete was deleted with it. Each such file is restored at once from its revision
   (the server keeps every version, so this re-commits the same blocks and
   sends no data), at its path or, if that is taken again, as a conflicted
   copy beside it.

So a concurrent change is never lost, only briefly deleted; an entry another
device deleted in that same instant may come back (a harmless extra file).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from client.sync.plan.actions import DeleteRemote
from client.sync.plan.conflict import conflicted_name
from client.sync.plan.tree import FILE, is_under
from client.sync.state.database import META_CURSOR, SyncState
from client.transfer.concurrency import Offload
from protocol import paths
from protocol.errors import Conflict, NotFound, ProtocolError
from protocol.hashing import BlockHash
from protocol.messages.files import Metadata

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)

#: other names tried for a restored file whose path was taken again
MAX_RESTORE_NAMES = 20


class RemoteChanged(Exception):
    """The server is not what the plan expected: it changed since the last pull."""


class RemoteDeleter:
    def __init__(self, client: TesseraClient, state: SyncState, offload: Offload, device: str) -> None:
        self.client = client
        self.state = state
        self._offload = offload
        self.device = device

    async def delete(self, a: DeleteRemote) -> None:
        """Delete ``a.path`` on the server (see the module docstring); already gone is fine."""
        cursor = await self._offload(self.state.get_meta, META_CURSOR)
        if not cursor:
            raise RemoteChanged("the remote tree has not been listed yet")
        top = paths.path_key(a.path)
        before, cursor = await self._feed_after(cursor)
        for e in before:
            if _below(e, top) and e.kind != "deleted" and not await self._known(e):
                what = "is being uploaded" if e.kind == "pending" else "changed"
                raise RemoteChanged(
                    f"{e.path} {what} on the server since the last pull; {a.path} was not deleted"
                )
        # a file goes only if it is still the revision the plan saw (atomic on the server)
        known = await self._offload(self.state.remote_entry, a.path) if a.kind == FILE else None
        if_rev = known.rev if known is not None and known.kind == FILE else None
        try:
            await self.client.delete(a.path, if_rev=if_rev)
        except NotFound:
            return  # already gone: the goal holds
        except Conflict as err:
            raise RemoteChanged(f"{a.path} changed on the server since the last pull; not deleted") from err
        if if_rev is not None:
            return  # only the revision the plan saw went: nothing newer to look for
        after, _ = await self._feed_after(cursor)
        for path, rev in _deleted_with(after, top).items():
            await self._restore(path, rev)

    async def _known(self, e: Metadata) -> bool:
        known = await self._offload(self.state.remote_entry, e.path)
        return known is not None and known.kind == e.kind and known.rev == e.rev

    async def _feed_after(self, cursor: str) -> tuple[list[Metadata], str]:
        entries: list[Metadata] = []
        async for page in self.client.iter_changes(cursor):
            entries += page.entries
            cursor = page.cursor
        return entries, cursor

    async def _restore(self, path: str, rev: int) -> None:
        """Commit revision ``rev`` again at ``path`` (or beside it); its blocks are all stored."""
        blocks: list[BlockHash] = []
        size, content_hash, modified = 0, "", None
        async for page in self.client.iter_file_blocks(path, rev=rev):
            size, content_hash, modified = page.size, page.content_hash, page.client_modified
            blocks += [BlockHash(b.size, b.md5, b.sha256) for b in page.blocks]
        taken: set[str] = set()
        target = path
        for _ in range(MAX_RESTORE_NAMES):
            try:
                session = await self.client.create_upload(
                    target, size, blocks, content_hash=content_hash, mode="add", client_modified=modified
                )
            except Conflict:
                taken.add(paths.path_key(target))
                target = conflicted_name(path, self.device, dt.date.today(), taken=taken)
                continue
            if session.needed:
                raise ProtocolError(f"revision {rev} of {path} lacks stored blocks; it stays in the history")
            meta = await self.client.commit_upload(session.upload_id)
            log.warning(
                "%s changed on another device while it was being deleted here; restored it as %s",
                path,
                meta.path,
            )
            return
        log.error(
            "could not restore %s (rev %d): every name tried is taken; it stays in the history", path, rev
        )


def _below(e: Metadata, top: str) -> bool:
    key = paths.path_key(e.path)
    return key == top or is_under(key, top)


def _deleted_with(after: list[Metadata], top: str) -> dict[str, int]:
    """Files at or below ``top`` committed after the check and before our deletion took them.

    Our deletion is the run of ``deleted`` entries that ends with ``top``'s own
    (the server marks a subtree deepest first).
    """
    files: dict[str, tuple[str, int]] = {}
    for e in after:
        if not _below(e, top):
            continue
        key = paths.path_key(e.path)
        if e.kind == "deleted" and key == top:
            break
        if e.kind == "file" and e.rev is not None:
            files[key] = (e.path, e.rev)
    return dict(files.values())
