"""Changes to a namespace's tree: mkdir, delete, move, and placing a committed file.

Every function runs inside the caller's transaction with a :class:`Journal`
already begun (which holds the namespace lock), writes the entries and adds a
journal row for each entry it changes. A delete moves what it deletes to the
trash (:mod:`metaserver.tree.trash`); a move removes the old path's rows (the
journal says they are gone there) and writes the new ones, with the same revisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from protocol import paths
from protocol.errors import AlreadyExists, BadPath, Conflict, NotAFolder, NotFound
from protocol.messages.files import Metadata
from protocol.search import fold

from . import entries, trash
from .journal import Journal

#: a write to the entries table: key, parent key, path, kind, rev (None: a folder), journal seq
EntryWrite = tuple[str, str, str, str, int | None, int]

_UPSERT = """ON CONFLICT (ns_id, path_key) DO UPDATE
              SET parent_key = EXCLUDED.parent_key, path = EXCLUDED.path, kind = EXCLUDED.kind,
                  rev = coalesce(EXCLUDED.rev, entries.rev), deleted = false,
                  seq = EXCLUDED.seq, modified_at = now(), name_fold = EXCLUDED.name_fold"""


async def upsert_entry(j: Journal, path: str, kind: str, rev: int | None) -> int:
    """Write the entry at ``path`` (creating or replacing the row for its key) and journal it.

    Its name goes in folded for search too (``name_fold``, :func:`protocol.search.fold`).
    """
    key = paths.path_key(path)
    parent_key = paths.path_key(paths.parent(path))
    seq = j.add(key, path, kind, rev, False)
    await j.conn.execute(
        f"""INSERT INTO entries (ns_id, path_key, parent_key, path, kind, rev, deleted, seq, modified_at, name_fold)
            VALUES ($1, $2, $3, $4, $5, $6, false, $7, now(), $8) {_UPSERT}""",
        j.ns_id,
        key,
        parent_key,
        path,
        kind,
        rev,
        seq,
        fold(paths.basename(path)),
    )
    return seq


def entry_write(j: Journal, path: str, kind: str, rev: int | None) -> EntryWrite:
    """The row :func:`write_entries` writes for ``path``, journaled now."""
    key = paths.path_key(path)
    return key, paths.path_key(paths.parent(path)), path, kind, rev, j.add(key, path, kind, rev, False)


async def write_entries(conn: asyncpg.Connection, ns_id: int, writes: list[EntryWrite]) -> None:
    """Write many entries in one statement (each already journaled: :func:`entry_write`), each
    name folded for search too, as :func:`upsert_entry` does."""
    await conn.execute(
        f"""INSERT INTO entries (ns_id, path_key, parent_key, path, kind, rev, deleted, seq, modified_at, name_fold)
            SELECT $1, u.path_key, u.parent_key, u.path, u.kind, u.rev, false, u.seq, now(), u.name_fold
              FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[])
                   AS u(path_key, parent_key, path, kind, rev, seq, name_fold)
            {_UPSERT}""",
        ns_id,
        *[[w[i] for w in writes] for i in range(6)],
        [fold(paths.basename(w[2])) for w in writes],
    )


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
    """Delete a file, or a folder with everything in it: to the trash, which keeps it until it is
    restored, purged, or its retention runs out.

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
    await trash.put(j, subtree)
    return entries.metadata(top)


async def _remove(j: Journal, subtree: list[asyncpg.Record]) -> None:
    """The rows of a live subtree gone from their paths (not to the trash: they move)."""
    for row in reversed(subtree):  # deepest first, as a deletion is journaled
        j.add(row["path_key"], row["path"], row["kind"], row["rev"], True)
    await j.conn.execute(
        "DELETE FROM entries WHERE ns_id = $1 AND path_key = ANY($2::text[])",
        j.ns_id,
        [row["path_key"] for row in subtree],
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
    await _remove(j, subtree)
    writes = [entry_write(j, new_top + row["path"][len(old_prefix):], row["kind"], row["rev"]) for row in subtree]
    await write_entries(j.conn, j.ns_id, writes)
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
