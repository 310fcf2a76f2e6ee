"""Bringing something back from the trash: a file, or a folder as it was when it was deleted.

:func:`restore` takes a trash row (an item, or a file or folder deleted inside one) and
everything deleted with it below it, and writes them back as live entries with the
revisions they had, journaled like any change so every device gets them. The file's
versions never left: the trash rows only go. Where the path is taken now (a new file or
folder of that name), it comes back beside it, as ``name (deleted YYYY-MM-DD).ext``
(`` 2``, `` 3``... after the date if that is taken too), never over it.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from protocol import paths
from protocol.errors import AlreadyExists
from protocol.messages.files import Metadata

from . import entries, ops, trash
from .journal import Journal

#: names tried beside a taken path before giving up
MAX_TRIES = 100


async def restore(j: Journal, path: str, trash_id: int | None = None) -> Metadata:
    """Restore the trash row at ``path`` (or ``trash_id``) with everything deleted with it below
    it; the metadata of what came back, at the path it came back to."""
    conn = j.conn
    row = await trash.find(conn, j.ns_id, paths.normalize(path), trash_id)
    rows = await trash.with_everything_below(conn, j.ns_id, row)
    dest = await free_path(conn, j.ns_id, row["path"], row["deleted_at"], row["kind"])
    parent = await ops.ensure_parents(j, dest)
    new_top = paths.join(parent, paths.basename(dest))
    old_top = row["path"]
    writes = [ops.entry_write(j, new_top + r["path"][len(old_top):], r["kind"], r["rev"]) for r in rows]
    await ops.write_entries(conn, j.ns_id, writes)
    sizes = [r["size"] for r in rows if r["kind"] == "file"]
    j.usage.untrashed(sum(sizes))
    await _drop_rows(conn, row, [r["id"] for r in rows], len(sizes), sum(sizes))
    restored = await entries.get(conn, j.ns_id, paths.path_key(new_top))
    assert restored is not None
    return entries.metadata(restored)


async def _drop_rows(conn: asyncpg.Connection, row: asyncpg.Record, ids: list[int], files: int, size: int) -> None:
    """The restored rows leave the trash; an item they were part of counts what is left in it."""
    await conn.execute("DELETE FROM trash WHERE id = ANY($1::bigint[])", ids)
    if row["top_id"] is not None:
        await conn.execute(
            "UPDATE trash SET files = files - $2, bytes = bytes - $3 WHERE id = $1", row["top_id"], files, size
        )


async def free_path(conn: asyncpg.Connection, ns_id: int, path: str, deleted_at: datetime, kind: str) -> str:
    """``path`` if nothing lives there now, else the first free name beside it for a ``kind``
    (see the module docstring); AlreadyExists if :data:`MAX_TRIES` names are all taken."""
    for n in range(MAX_TRIES + 1):
        candidate = path if n == 0 else beside(path, deleted_at, n, kind)
        if await entries.get(conn, ns_id, paths.path_key(candidate)) is None:
            return candidate
    raise AlreadyExists(f"{path} and {MAX_TRIES} names beside it exist; rename one and restore again")


def beside(path: str, deleted_at: datetime, n: int, kind: str = "file") -> str:
    """The ``n``-th name beside ``path`` for something deleted at ``deleted_at`` (n >= 1):
    ``report (deleted 2026-03-01).pdf``, ``report (deleted 2026-03-01 2).pdf``, ...; a folder's
    name has no extension (``v1.2 (deleted 2026-03-01)``); the name is shortened to fit the
    path rules (255 bytes a component)."""
    name = paths.basename(path)
    stem, dot, ext = name.rpartition(".")
    if kind == "folder" or not stem or not dot:  # no extension (or a dot file): the whole name is the stem
        stem, ext = name, ""
    else:
        ext = "." + ext
    tag = f" (deleted {deleted_at:%Y-%m-%d}{'' if n == 1 else f' {n}'})"
    room = paths.MAX_COMPONENT_BYTES - len((tag + ext).encode("utf-8"))
    if room < 1:  # an extension too long to keep
        ext, room = "", paths.MAX_COMPONENT_BYTES - len(tag.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" ") or "_"
    return paths.join(paths.parent(path), stem + tag + ext)
