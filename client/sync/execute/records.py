"""What the executor writes to the trees once an action took effect (blocking: worker threads).

Each function is one action's record, as the action's docstring in
:mod:`client.sync.plan.actions` says, written in one call (a batch's in one transaction), so
planning again gives no action for it.
"""

from __future__ import annotations

from client.sync.local.disk import LocalChanged
from client.sync.plan.actions import Action, ForgetSynced, RecordSynced, Upload
from client.sync.plan.tree import FILE, Node
from client.sync.state.database import BlockRecord, LocalEntry, RemoteEntry, SyncState, TreeName
from protocol.errors import TesseraError
from protocol.messages.files import Metadata


def remote_and_synced(state: SyncState, remote: RemoteEntry) -> None:
    state.put_remote(remote)
    state.record_synced(remote.node())


def local_and_synced(state: SyncState, entry: LocalEntry, node: Node) -> None:
    state.put_local(entry)
    state.record_synced(node)


def download(state: SyncState, entry: LocalEntry, blocks: list[BlockRecord], node: Node) -> None:
    state.put_local(entry, blocks)
    state.record_synced(node)


def downloads(state: SyncState, records: list[tuple[LocalEntry, list[BlockRecord], Node]]) -> None:
    with state.transaction():
        for entry, blocks, node in records:
            download(state, entry, blocks, node)


def committed_entry(a: Upload, meta: Metadata) -> RemoteEntry:
    """The remote entry ``a``'s commit made; TesseraError if the server answered with no file."""
    if not meta.is_file or meta.content_hash is None or meta.rev is None:
        raise TesseraError(f"the server answered the upload of {a.path} with a {meta.kind}")
    return RemoteEntry(meta.path, FILE, meta.rev, meta.size, meta.content_hash)


def check_uploaded_as_scanned(a: Upload, meta: Metadata) -> None:
    """LocalChanged if the file changed between the scan and the upload: what was sent is
    recorded, the next scan sees the file as it is now."""
    if meta.content_hash != a.content_hash:
        raise LocalChanged(f"{a.path} changed since the last scan; uploaded as it is now")


def uploads(state: SyncState, committed: list[tuple[Upload, Metadata]]) -> dict[str, Exception | None]:
    """Record the committed uploads of a batch in one transaction, as a single upload records
    one; per path None, or why the file is not recorded as uploaded (as a single upload raises)."""
    out: dict[str, Exception | None] = {}
    with state.transaction():
        for a, meta in committed:
            try:
                remote_and_synced(state, committed_entry(a, meta))
                check_uploaded_as_scanned(a, meta)
            except (TesseraError, LocalChanged) as e:
                out[a.path] = e
            else:
                out[a.path] = None
    return out


def bookkeeping(state: SyncState, actions: list[Action]) -> None:
    """The synced-tree records of a phase (:class:`RecordSynced`, :class:`ForgetSynced`)."""
    for a in actions:
        if isinstance(a, RecordSynced):
            state.record_synced(a.node)
        elif isinstance(a, ForgetSynced):
            state.forget_synced(a.path)


def forget_entry(state: SyncState, path: str) -> None:
    state.delete("local", path)
    state.forget_synced(path)


def forget_subtree(state: SyncState, trees: tuple[TreeName, ...], path: str) -> None:
    for tree in trees:
        state.delete(tree, path, subtree=True)


def move_in(state: SyncState, trees: tuple[TreeName, ...], src: str, dst: str) -> None:
    for tree in trees:
        state.move(tree, src, dst)

