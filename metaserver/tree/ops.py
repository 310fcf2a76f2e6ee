"""Changes to a namespace's tree: mkdir, delete, move, and placing a committed file.

Every function runs inside the caller's transaction with a :class:`Journal`
already begun (which holds the namespace lock), writes the entries and adds a
journal row for each entry it changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from protocol import paths
from protocol.errors import AlreadyExists, BadPath, Conflict, NotAFolder, NotFound
from protocol.messages.files import Metadata
from protocol.search import fold

from . import entries
from .journal import Journal


async def upsert_entry(
    j: Journal, path: str, kind: str, rev: int | None, *, deleted: bool = False
) -> int:
    """Write the entry at ``path`` (creating or replacing the row for its key) and journal it.

    Its name goes in folded for search too (``name_fold``, :func:`protocol.search.fold`).
    """
    key = paths.path_key(path)
    parent_key = paths.path_key(paths.parent(path))
    seq = j.add(key, path, kind, rev, deleted)
    await j.conn.execute(
        """INSERT INTO entries (ns_id, path_key, parent_key, path, kind, rev, deleted, seq, modified_at, name_fold)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), $9)
           ON CONFLICT (ns_id, path_key) DO UPDATE
              SET parent_key = EXCLUDED.parent_key, path = EXCLUDED.path, kind = EXCLUDED.kind,
                  rev = coalesce(EXCLUDED.rev, entries.rev), deleted = EXCLUDED.deleted,
                  seq = EXCLUDED.seq, modified_at = now(), name_fold = EXCLUDED.name_fold""",
        j.ns_id,
        key,
        parent_key,
        path,
        kind,
        rev,
        deleted,
        seq,
        fold(paths.basename(path)),
    )
    return seq


async def insert_version(
    j: Journal,
    path: str,
    size: int,
    content_hash: bytes,
    block_count: int,
    parent_rev: int | None,
    device_name: str,
    user_id: int,
    client_modified: Any = None,
) -> tuple[int, Any]:
    """A new immutable version of a file at ``path`` (its blocks are the caller's to add);
    returns its rev and creation time."""
    rev, created = await j.conn.fetchrow(
        """INSERT INTO versions (ns_id, path, size, content_hash, block_count, parent_rev, device_name, user_id,
                                 client_modified)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, created_at""",
        j.ns_id,
        path,
        size,
        content_hash,
        block_count,
        parent_rev,
        device_name,
        user_id,
        client_modified,
    )
    return rev, created


async def ensure_parents(j: Journal, path: str, found: Mapping[str, Any] | None = None) -> str:
    """Create the missing folders above ``path``; return the parent's display path.

    The display path of an existing folder wins over the case the caller used,
    so ``/Photos`` stays ``/Photos`` when someone writes ``/photos/x.jpg``.
    ``found``: the entries above ``path`` by key, if the caller read them already
    (in the same transaction, after :meth:`Journal.begin`).
    """
    chain = paths.ancestors(path)
    if not chain:
        return paths.ROOT
    if found is None:
        found = await entries.get_many(j.conn, j.ns_id, [paths.path_key(p) for p in chain])
    display = paths.ROOT
    for p in chain:
        name = paths.basename(p)
        want = paths.join(display, name)
        row = found.get(paths.path_key(p))
        if row is not None and not row["deleted"]:
            if row["kind"] != "folder":
                raise NotAFolder(f"{row['path']} is a file, not a folder")
            display = row["path"]
        else:
            await upsert_entry(j, want, "folder", None)
            display = want
    return display


def _check_not_root(path: str, what: str) -> None:
    if path == paths.ROOT:
        raise BadPath(f"cannot {what} the root folder")


async def mkdir(j: Journal, path: str) -> Metadata:
    _check_not_root(path, "create")
    parent = await ensure_parents(j, path)
    existing = await entries.get(j.conn, j.ns_id, paths.path_key(path))
    if existing is not None and not existing["deleted"]:
        raise AlreadyExists(f"{existing['path']} already exists")
    display = paths.join(parent, paths.basename(path))
    await upsert_entry(j, display, "folder", None)
    return Metadata("folder", display, paths.basename(display))


async def delete(j: Journal, path: str, if_rev: int | None = None) -> Metadata:
    """Delete a file, or a folder with everything in it (rows stay as deletion markers).

    With ``if_rev``, only a file still at that revision: anything else there
    (a newer revision, a folder) is a Conflict and nothing is deleted.
    """
    _check_not_root(path, "delete")
    subtree = await entries.live_subtree(j.conn, j.ns_id, paths.path_key(path))
    if not subtree:
        raise NotFound(f"{path} does not exist")
    top = subtree[0]
    if if_rev is not None and (top["kind"] != "file" or top["rev"] != if_rev):
        now = f"rev {top['rev']}" if top["kind"] == "file" else "a folder"
        raise Conflict(f"{top['path']} is no longer at rev {if_rev} (it is {now}); nothing was deleted")
    for row in reversed(subtree):  # deepest first
        await _mark_deleted(j, row)
    return entries.metadata(top)


async def _mark_deleted(j: Journal, row: asyncpg.Record) -> None:
    seq = j.add(row["path_key"], row["path"], row["kind"], row["rev"], True)
    await j.conn.execute(
        "UPDATE entries SET deleted = true, seq = $3, modified_at = now() WHERE ns_id = $1 AND path_key = $2",
        j.ns_id,
        row["path_key"],
        seq,
    )


async def move(j: Journal, src: str, dst: str) -> Metadata:
    """Move or rename a file or a folder with everything in it."""
    _check_not_root(src, "move")
    _check_not_root(dst, "move onto")
    src_key, dst_key = paths.path_key(src), paths.path_key(dst)
    subtree = await entries.live_subtree(j.conn, j.ns_id, src_key)
    if not subtree:
        raise NotFound(f"{src} does not exist")
    top = subtree[0]
    if dst_key != src_key and paths.is_within(dst, src):
        raise BadPath(f"cannot move {top['path']} into itself")
    if dst_key == src_key:
        if paths.basename(dst) == paths.basename(top["path"]):
            return entries.metadata(top)  # nothing to do
        new_top = paths.join(paths.parent(top["path"]), paths.basename(dst))
        return await _rename_in_place(j, subtree, new_top)
    existing = await entries.get(j.conn, j.ns_id, dst_key)
    if existing is not None and not existing["deleted"]:
        raise AlreadyExists(f"{existing['path']} already exists")
    parent = await ensure_parents(j, dst)
    new_top = paths.join(parent, paths.basename(dst))
    old_prefix = top["path"]
    for row in reversed(subtree):
        await _mark_deleted(j, row)
    for row in subtree:
        new_path = new_top + row["path"][len(old_prefix):]
        await upsert_entry(j, new_path, row["kind"], row["rev"])
    moved = dict(top)
    moved["path"] = new_top
    moved["deleted"] = False
    return entries.metadata(moved)


async def _rename_in_place(j: Journal, subtree: list[asyncpg.Record], new_top: str) -> Metadata:
    """A case-only rename: the keys stay, the display paths change."""
    old_prefix = subtree[0]["path"]
    for row in subtree:
        await upsert_entry(j, new_top + row["path"][len(old_prefix):], row["kind"], row["rev"])
    moved = dict(subtree[0])
    moved["path"] = new_top
    return entries.metadata(moved)
