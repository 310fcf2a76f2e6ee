"""A move between two namespaces (home and a share, or two shares) by a user who may write both,
and a copy (within a namespace or between two) by a user who may read the source and write the
destination.

Nothing is uploaded again: each file becomes a new file of the destination whose version
lists the same blocks (:func:`~metaserver.sharing.moves.copy_file`); the source goes to the
source namespace's trash, where its members can restore it until retention removes it. Its
share links follow it into the destination (:mod:`metaserver.links.follow`). The
blocks keep their namespace (the dedup scope), so the destination's dedup never finds them.
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.errors import AlreadyExists, BadPath, BadRequest, NotFound, QuotaExceeded
from protocol.messages.files import Metadata

from ..core import members
from ..core.callers import Context
from ..core.users import used_bytes
from ..links.follow import follow
from ..tree import entries, ops
from ..tree.journal import Author, Journal
from . import mounts, moves
from .places import Place

#: the most entries one move between namespaces or one copy takes (each is a statement, all in
#: one transaction that holds both namespaces' locks): a bigger tree is refused, not half-done
MAX_ENTRIES = 10_000


async def move(conn: asyncpg.Connection, ctx: Context, src: Place, dst: Place) -> Metadata:
    """Move the caller's ``src`` (a file or a folder) to ``dst`` in another namespace; the
    metadata of what is at ``dst`` now, in the caller's paths."""
    journals = await mounts.begin_all(conn, [src.ns_id, dst.ns_id], Author.of(ctx.caller))
    for ns in (src.ns_id, dst.ns_id):  # under the locks: a removal that came first is seen
        await members.require(conn, ns, ctx.caller.user_id, members.WRITE)
    if src.path == paths.ROOT:
        raise NotFound(f"{src.outer(src.path)} does not exist")
    meta, new_top = await _place_copy(conn, src, dst, journals[dst.ns_id])
    await _within_quota(conn, journals[dst.ns_id])
    await ops.delete(journals[src.ns_id], src.path)
    await follow(conn, src.ns_id, src.path, dst.ns_id, new_top)  # the links go with what they open
    await mounts.flush_all(journals)
    return meta


async def copy(conn: asyncpg.Connection, ctx: Context, src: Place, dst: Place) -> Metadata:
    """Copy the caller's ``src`` (a file, a folder, or a whole shared folder at its mount point)
    to ``dst``, in the same namespace or another: the copies' versions list the same blocks, so
    no byte is sent again. The caller needs to read ``src`` and write ``dst``."""
    if src.ns_id == dst.ns_id and paths.is_within(dst.path, src.path):
        raise BadPath(f"cannot copy {src.outer(src.path)} into itself")
    journals = await mounts.begin_all(conn, [src.ns_id, dst.ns_id], Author.of(ctx.caller))
    await members.require(conn, src.ns_id, ctx.caller.user_id, members.READ)  # under the locks
    await members.require(conn, dst.ns_id, ctx.caller.user_id, members.WRITE)
    meta, _ = await _place_copy(conn, src, dst, journals[dst.ns_id])
    await _within_quota(conn, journals[dst.ns_id])
    await mounts.flush_all(journals)
    return meta


async def _place_copy(conn: asyncpg.Connection, src: Place, dst: Place, jd: Journal) -> tuple[Metadata, str]:
    """Write a copy of ``src``'s tree at ``dst`` (journaled in ``jd``); the metadata of its top,
    in the caller's paths, and its path in ``dst``'s namespace."""
    whole = src.path == paths.ROOT  # a shared folder's mount point: its namespace's every entry
    # the root has no row; "" is a key every path of the namespace is strictly below
    subtree = await entries.live_subtree(conn, src.ns_id, "" if whole else paths.path_key(src.path))
    if not subtree and not whole:
        raise NotFound(f"{src.outer(src.path)} does not exist")
    if len(subtree) > MAX_ENTRIES:
        raise BadRequest(f"{src.outer(src.path)} holds more than {MAX_ENTRIES} entries: copy or move its folders one by one")
    existing = await entries.get(conn, dst.ns_id, paths.path_key(dst.path))
    if existing is not None and not existing["deleted"]:
        raise AlreadyExists(f"{dst.outer(existing['path'])} already exists")
    parent = await ops.ensure_parents(jd, dst.path)
    new_top = paths.join(parent, paths.basename(dst.path))
    top_meta: Metadata | None = None
    if whole:
        await ops.upsert_entry(jd, new_top, "folder", None)
        top_meta = Metadata("folder", new_top, paths.basename(new_top))
    cut = 0 if whole else len(subtree[0]["path"])
    for row in subtree:
        path = new_top + row["path"][cut:]
        if row["kind"] == "folder":
            await ops.upsert_entry(jd, path, "folder", None)
            meta = Metadata("folder", path, paths.basename(path))
        else:
            meta = await moves.copy_file(jd, row, path)
        top_meta = top_meta or meta
    assert top_meta is not None  # the subtree has its top
    return dst.out(top_meta), new_top


async def _within_quota(conn: asyncpg.Connection, dst: Journal) -> None:
    """What the copy adds to the destination's stored bytes (blocks none of its versions listed
    before) must fit its owner's quota with what their open uploads reserve, as an upload's
    would (QuotaExceeded, 507; the transaction then changes nothing). Read without locking the
    owner's row (an upload locks it before its namespace, a copy holds namespaces first), so
    two copies at the same instant may both pass it by at most one copy's bytes."""
    if dst.usage.stored <= 0:
        return
    owner = await conn.fetchrow(
        "SELECT u.id, u.quota_bytes FROM users u JOIN namespaces n ON n.owner_id = u.id WHERE n.id = $1", dst.ns_id
    )
    if owner["quota_bytes"] is None:
        return
    # the open uploads' reservations, summed from the sessions themselves (the counters on the
    # user's row are released lazily, by the next upload's check: metaserver/uploads/reservations.py)
    reserved = await conn.fetchval(
        """SELECT coalesce(sum(s.reserved_bytes), 0)::bigint FROM upload_sessions s
            WHERE s.state = 'open' AND s.reservation_held AND s.expires_at > now()
              AND (s.user_id = $1 OR s.ns_id IN (SELECT id FROM namespaces WHERE owner_id = $1 AND kind <> 'home'))""",
        owner["id"],
    )
    taken = await used_bytes(conn, owner["id"]) + reserved
    if taken + dst.usage.stored > owner["quota_bytes"]:
        raise QuotaExceeded(
            f"this needs {dst.usage.stored} more bytes of the owner's quota; {max(0, owner['quota_bytes'] - taken)}"
            f" of {owner['quota_bytes']} are left",
            quota_bytes=owner["quota_bytes"], used_bytes=taken, needed_bytes=dst.usage.stored,
        )  # fmt: skip
