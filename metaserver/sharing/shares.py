"""Sharing a folder and unsharing it.

Sharing ``/Team`` makes a new namespace (kind 'shared', owned by the caller, whose quota
counts its bytes), moves everything below the folder into it without moving a byte
(:func:`~metaserver.sharing.moves.transplant`), makes the caller its owner and mounts it
where the folder was. Unsharing moves everything back into the owner's home at their mount
path, as an ordinary folder, and unmounts it from every member's tree. Share links follow both
ways (:mod:`metaserver.links.follow`).
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.errors import AlreadyExists, BadPath, NotAFolder

from ..core import members
from ..core.callers import Context
from ..links.follow import follow
from ..tree import entries, ops
from ..tree.journal import SERVER, Author
from . import mounts, moves
from .places import Place, locate, mounts_of


async def create(conn: asyncpg.Connection, ctx: Context, path: str) -> int:
    """Share the caller's folder ``path``; returns the new namespace's id."""
    uid = ctx.caller.user_id
    found = await mounts_of(conn, uid)
    place = locate(ctx.ns_id, found, path)
    if place.is_mount_root:
        raise AlreadyExists(f"{place.prefix} is a shared folder already")
    if place.prefix:
        raise BadPath(f"{path} is inside the shared folder {place.prefix}: a share cannot hold another")
    if path == paths.ROOT:
        raise BadPath("the root folder cannot be shared")
    if any(paths.is_within(m.path, path) for m in found):
        raise BadPath(f"{path} holds a shared folder: a share cannot hold another")
    author = Author.of(ctx.caller)
    home = (await mounts.begin_all(conn, [ctx.ns_id], author))[ctx.ns_id]
    top = await entries.get_live(conn, ctx.ns_id, path)
    if top["kind"] != "folder":
        raise NotAFolder(f"{top['path']} is a file: only folders can be shared")
    ns_id = await conn.fetchval(
        "INSERT INTO namespaces (owner_id, kind, name) VALUES ($1, 'shared', $2) RETURNING id",
        uid,
        paths.basename(top["path"]),
    )
    share = (await mounts.begin_all(conn, [ns_id], author))[ns_id]  # a higher id than the home's: in order
    await moves.transplant(home, share, top["path"], paths.ROOT)
    await follow(conn, ctx.ns_id, top["path"], ns_id, paths.ROOT)  # a link on the folder: on the share's root
    # the folder's row leaves the home tree; the mount takes its place (journaled as a folder there)
    await conn.execute("DELETE FROM entries WHERE ns_id = $1 AND path_key = $2", ctx.ns_id, top["path_key"])
    await conn.execute("INSERT INTO ns_members (ns_id, user_id, role) VALUES ($1, $2, 'owner')", ns_id, uid)
    await mounts.add(conn, home, uid, ns_id, top["path"])
    await mounts.flush_all({ctx.ns_id: home, ns_id: share})
    return ns_id


async def share_root(conn: asyncpg.Connection, ctx: Context, path: str) -> Place:
    """The share mounted at the caller's ``path`` (BadPath if no share is mounted exactly there)."""
    place = locate(ctx.ns_id, await mounts_of(conn, ctx.caller.user_id), path)
    if not place.is_mount_root:
        where = f"inside the shared folder {place.prefix}" if place.prefix else "not a shared folder"
        raise BadPath(f"{path} is {where}: name the shared folder itself (as `tessera share ls` shows it)")
    return place


async def member_ids(conn: asyncpg.Connection, ns_id: int) -> list[int]:
    return [r["user_id"] for r in await conn.fetch("SELECT user_id FROM ns_members WHERE ns_id = $1", ns_id)]


async def unshare(conn: asyncpg.Connection, ctx: Context, path: str) -> str:
    """Unshare the share mounted at the caller's ``path`` (the owner only): its tree goes back into
    the owner's home there, as an ordinary folder; every member's mount of it goes. Returns the
    folder's path in the owner's tree."""
    place = await share_root(conn, ctx, path)
    place.need(members.MANAGE)
    uid, ns_id = ctx.caller.user_id, place.ns_id
    home_of = await mounts.homes_of(conn, await member_ids(conn, ns_id))
    journals = await mounts.begin_all(conn, [ns_id, *home_of.values()], Author.of(ctx.caller))
    await members.require(conn, ns_id, uid, members.MANAGE)  # still the owner, now that it is locked
    home_of = await mounts.homes_of(conn, await member_ids(conn, ns_id))  # no one joins while it is locked
    homes = mounts.home_journals(journals, home_of)
    share, home = journals[ns_id], homes[uid]
    await mounts.drop(conn, homes, ns_id, [u for u in home_of if u != uid])
    # the owner's folder comes back where the mount was (a folder row there: nothing disappears)
    await conn.execute("DELETE FROM mounts WHERE ns_id = $1", ns_id)
    await ops.upsert_entry(home, place.prefix, "folder", None)
    await moves.transplant(share, home, paths.ROOT, place.prefix)
    await follow(conn, ns_id, paths.ROOT, home.ns_id, place.prefix)
    await conn.execute("DELETE FROM ns_members WHERE ns_id = $1", ns_id)
    await conn.execute(
        "UPDATE share_invitations SET state = 'cancelled', decided_at = now() WHERE ns_id = $1 AND state = 'pending'",
        ns_id,
    )
    await conn.execute("UPDATE namespaces SET unshared_at = now() WHERE id = $1", ns_id)
    await mounts.flush_all(journals)
    return place.prefix



async def dissolve_owned(conn: asyncpg.Connection, user_id: int) -> int:
    """Before user ``user_id`` is deleted with the shares they own: take each of those shares out
    of its other members' trees, journaled in each member's home (so their devices drop it, as
    after an unshare, rather than keep a folder the server no longer has). Returns how many
    members' mounts went."""
    dropped = 0
    owned = await conn.fetch(
        "SELECT id FROM namespaces WHERE owner_id = $1 AND kind = 'shared' AND unshared_at IS NULL ORDER BY id", user_id
    )
    for ns_id in (r["id"] for r in owned):
        home_of = await mounts.homes_of(conn, await member_ids(conn, ns_id))
        journals = await mounts.begin_all(conn, [ns_id, *home_of.values()], SERVER)
        others = [u for u in home_of if u != user_id]
        await mounts.drop(conn, mounts.home_journals(journals, home_of), ns_id, others)
        await conn.execute(
            "UPDATE share_invitations SET state = 'cancelled', decided_at = now() WHERE ns_id = $1 AND state = 'pending'",
            ns_id,
        )
        await mounts.flush_all(journals)
        dropped += len(others)
    return dropped
