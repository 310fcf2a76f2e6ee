"""Links follow what they open: when a file or folder moves, the links at it and below it move
with it, in the transaction of the move.

A link names its target by namespace and path (:mod:`.store`). Every change that moves live
entries calls :func:`follow` once the entries are at their new place: a rename or a move inside
a namespace (``metaserver/web/files.py``), a move between namespaces
(``metaserver/sharing/crossmove.py``), sharing a folder (its subtree moves to the root of the new
namespace: a link on the folder itself becomes a link on that root, ``/``) and unsharing (the
whole namespace, trash included, goes back to the owner's home at the mount path: a link on the
root becomes one on the folder again).

Only links whose target moved follow: a link at a path below the moved folder whose item is in
the trash stays where it was, beside its trash row, so restoring the item (to where it was)
makes the link work again. While its target is deleted a link opens nothing (its pages answer
404, as for a name that does not exist); a link follows its path, not a file's identity, so a
new file made at a deleted target's path is what the link then opens. A whole namespace moving
(unsharing) takes every link of it along.

The links of a namespace are managed by whoever manages that namespace (``metaserver/web/links.py``):
a link that followed its file into a shared folder is the share's (its owner and editors list
and revoke it), one that followed a file out of a share is the home's owner's.
"""

from __future__ import annotations

import asyncpg

from protocol import paths

from ..tree import entries


async def hold_still(conn: asyncpg.Connection, ns_id: int) -> None:
    """Keep namespace ``ns_id``'s tree still while a link into it is made, in the link's
    transaction: a move there in flight (which holds the journal's lock on the namespace row)
    commits first, and one that comes later waits for the link, so :func:`follow` sees every
    link made (a share lock: links made at once do not wait for each other)."""
    await conn.execute("SELECT 1 FROM namespaces WHERE id = $1 FOR SHARE", ns_id)


def moved_path(path: str, src: str, dst: str) -> str:
    """Where ``path`` (``src`` or below it, by key) is once ``src`` has moved to ``dst``; either
    may be the root. Components are cut by count, never by length (a key may be longer or
    shorter than its path: ``ß`` folds to ``ss``)."""
    depth = 0 if src == paths.ROOT else src.count("/")
    rest = path.split("/")[depth + 1 :] if path != paths.ROOT else []
    if not rest:
        return dst
    return ("" if dst == paths.ROOT else dst) + "/" + "/".join(rest)


async def _links_under(conn: asyncpg.Connection, ns_id: int, src: str) -> list[asyncpg.Record]:
    if src == paths.ROOT:
        return await conn.fetch("SELECT id, path FROM links WHERE ns_id = $1 ORDER BY id FOR UPDATE", ns_id)
    key = paths.path_key(src)
    return await conn.fetch(
        """SELECT id, path FROM links WHERE ns_id = $1 AND (path_key = $2 OR path_key LIKE $3)
            ORDER BY id FOR UPDATE""",
        ns_id,
        key,
        entries.like_prefix(key),
    )


async def follow(conn: asyncpg.Connection, src_ns: int, src: str, dst_ns: int, dst: str) -> int:
    """Make the links at ``src`` of namespace ``src_ns`` and below it name the same items at
    ``dst`` of ``dst_ns``, after the move (the entries are at ``dst`` already); how many moved.

    With ``src`` the root, every link of the namespace follows (the whole namespace moved, its
    trash too); else only those whose item is live at its new place (not one in the trash)."""
    found = await _links_under(conn, src_ns, src)
    moves = [(r["id"], moved_path(r["path"], src, dst)) for r in found]
    if src != paths.ROOT:
        keys = [paths.path_key(p) for _, p in moves if p != paths.ROOT]
        live = {
            r["path_key"]
            for r in await conn.fetch(
                "SELECT path_key FROM entries WHERE ns_id = $1 AND path_key = ANY($2::text[]) AND NOT deleted",
                dst_ns,
                keys,
            )
        }
        moves = [(i, p) for i, p in moves if p == paths.ROOT or paths.path_key(p) in live]
    if moves:
        await conn.execute(
            """UPDATE links l SET ns_id = $1, path = u.path, path_key = u.path_key
                 FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(id, path, path_key)
                WHERE l.id = u.id""",
            dst_ns,
            [i for i, _ in moves],
            [p for _, p in moves],
            [paths.path_key(p) for _, p in moves],
        )
    return len(moves)
