"""A file's history, and bringing an old version back.

History follows the file, not the path: every version belongs to one file (``file_id``,
:mod:`metaserver.tree.versions`), kept across moves, renames, restores and the trash. A path
names a file as :func:`resolve` finds it: the live file there, else the latest file deleted
there (in the trash), else the file that was last at that path and has moved away since.
:func:`revisions` lists the file's versions, newest first, each with its number within the
file (1 = the first), which :func:`restore` takes (or the global ``rev``).

A restore makes an old version the file's current content again, as a new version whose
parent is the current one: the old version's blocks are referenced, not copied (they are
kept while any version refers to them, see blockserver/gc/), so a restore of any size is one
small transaction. A file in the trash comes back first (with its folders, beside a file
that took its path since: :mod:`metaserver.tree.trash_restore`).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from protocol import paths
from protocol.errors import IsAFolder, NotFound
from protocol.messages.files import Metadata, Revision, Revisions

from . import entries, ops, trash, trash_restore, versions
from .journal import Journal

#: the most revisions one answer lists
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Found:
    """The file a path names (:func:`resolve`)."""

    file_id: int
    #: "live", "trash" (deleted, restorable), or "moved" (live or deleted elsewhere now)
    state: str
    #: the entry row (live) or trash row (deleted) that holds the file now
    row: asyncpg.Record
    #: the file is in the trash
    deleted: bool

    @property
    def path(self) -> str:
        return self.row["path"]


async def resolve(conn: asyncpg.Connection, ns_id: int, path: str) -> Found:
    """The file ``path`` names (see the module docstring); IsAFolder for a folder (live or
    deleted), NotFound if the path never held a file that still exists."""
    key = paths.path_key(path)
    current = await entries.get(conn, ns_id, key)
    if current is not None and not current["deleted"]:
        if current["kind"] != "file":
            raise IsAFolder(f"{current['path']} is a folder")
        return Found(current["file_id"], "live", current, False)
    deleted = await conn.fetchrow(
        f"""SELECT {trash.TRASH_COLUMNS} FROM {trash.TRASH_FROM}
             WHERE t.ns_id = $1 AND t.path_key = $2 ORDER BY t.deleted_at DESC, t.id DESC LIMIT 1""",
        ns_id,
        key,
    )
    if deleted is not None:
        if deleted["kind"] != "file":
            raise IsAFolder(f"{deleted['path']} is a deleted folder")
        return Found(deleted["file_id"], "trash", deleted, True)
    file_id = await conn.fetchval(
        """SELECT v.file_id FROM journal j JOIN versions v ON v.id = j.rev
            WHERE j.ns_id = $1 AND j.path_key = $2 AND j.kind = 'file' AND NOT j.deleted
            ORDER BY j.seq DESC LIMIT 1""",
        ns_id,
        key,
    )
    if file_id is not None:
        live, deleted = await _holder(conn, ns_id, file_id)
        if live is not None or deleted is not None:
            return Found(file_id, "moved", live or deleted, live is None)
    raise NotFound(f"{path} has no file revisions")


async def _holder(
    conn: asyncpg.Connection, ns_id: int, file_id: int
) -> tuple[asyncpg.Record | None, asyncpg.Record | None]:
    """The live entry, or else the trash row, that holds file ``file_id`` now (both None if neither)."""
    live = await conn.fetchrow(
        f"""SELECT {entries.ENTRY_COLUMNS} FROM {entries.ENTRY_FROM}
             WHERE e.ns_id = $1 AND NOT e.deleted
               AND e.rev IN (SELECT id FROM versions WHERE ns_id = $1 AND file_id = $2)""",
        ns_id,
        file_id,
    )
    if live is not None:
        return live, None
    return None, await conn.fetchrow(
        f"""SELECT {trash.TRASH_COLUMNS} FROM {trash.TRASH_FROM}
             WHERE t.ns_id = $1 AND t.rev IN (SELECT id FROM versions WHERE ns_id = $1 AND file_id = $2)""",
        ns_id,
        file_id,
    )


async def revisions(conn: asyncpg.Connection, ns_id: int, path: str, limit: int) -> Revisions:
    """The versions of the file ``path`` names, newest first (at most ``limit``)."""
    found = await resolve(conn, ns_id, paths.normalize(path))
    rows = await versions.of_file(conn, ns_id, found.file_id, limit)
    return Revisions(found.path, found.deleted, None if found.deleted else found.row["rev"], [revision(r) for r in rows])


def revision(r: asyncpg.Record) -> Revision:
    """One version, at the path it was committed to, with its number in the file and its author."""
    return Revision(
        kind="file",
        name=paths.basename(r["path"]),
        rev=r["id"],
        version=r["number"],
        path=r["path"],
        size=r["size"],
        content_hash=bytes(r["content_hash"]).hex(),
        modified=r["created_at"].timestamp(),
        device=r["device_name"],
        user=r["user_name"],
        client_modified=entries.timestamp(r["client_modified"]),
    )


async def restore(j: Journal, path: str, *, rev: int | None = None, number: int | None = None) -> Metadata:
    """Make a version of the file ``path`` names its current content again (a new version); the
    file's metadata. The version is named by its ``number`` in the file or by its ``rev``;
    NotFound if the file has no such version. When the file holds that content already,
    nothing changes and the current metadata is the answer, so a retried restore makes no
    second version.
    """
    conn = j.conn
    path = paths.normalize(path)
    if path == paths.ROOT:
        raise IsAFolder("the root is a folder")
    found = await resolve(conn, j.ns_id, path)
    if found.state == "moved":
        raise NotFound(f"{path} has moved to {found.path} since; restore it there")
    version = await conn.fetchrow(
        f"""SELECT {versions.COPY_COLUMNS} FROM versions
             WHERE ns_id = $1 AND file_id = $2 AND ($3::bigint IS NULL OR id = $3) AND ($4::int IS NULL OR number = $4)""",
        j.ns_id,
        found.file_id,
        rev,
        number,
    )
    if version is None:
        which = f"version {number}" if number is not None else f"revision {rev}"
        raise NotFound(f"{path} never had {which}")
    if found.state == "trash":
        back = await trash_restore.restore(j, path, found.row["id"])
        current = await entries.get(conn, j.ns_id, paths.path_key(back.path))
    else:
        current = found.row
    assert current is not None
    if current["rev"] == version["id"] or bytes(current["content_hash"]) == bytes(version["content_hash"]):
        return entries.metadata(current)  # already that content: nothing to do (a retry is safe)
    new_rev, created = await versions.insert_copy(j, current["path"], version, current["number"] + 1, current["rev"])
    await ops.upsert_entry(j, current["path"], "file", new_rev)
    j.usage.committed(version["size"], current["size"], 0)
    return entries.file_metadata(
        current["path"], new_rev, version["size"], version["content_hash"], created, j.author.device_name,
        version["client_modified"],
    )  # fmt: skip
