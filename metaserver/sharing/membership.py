"""A share's membership: invitations (invite, accept, decline), roles, removal, leaving, and
the listing of a user's shares and invitations.

Every change locks the share's namespace (and the homes whose mounts it changes, in id
order: :func:`~metaserver.sharing.mounts.begin_all`) and checks the caller's role after the
lock: the writes of a member being removed or downgraded are serialised with it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from protocol import paths
from protocol.errors import AlreadyExists, BadRequest, NotFound
from protocol.messages.sharing import MEMBER_ROLES, Invitation, Member, Share, ShareList

from ..core import members
from ..core.callers import Context
from ..core.users import user_id_of
from ..links import store as links_store
from ..tree import ops
from ..tree.journal import Author
from . import mounts
from .places import mounts_of
from .shares import share_root


def check_role(role: Any) -> str:
    if role not in MEMBER_ROLES:
        raise BadRequest(f"role must be one of {', '.join(MEMBER_ROLES)}")
    return role


async def _locked_share(conn: asyncpg.Connection, ctx: Context, path: str, need: str, *homes: int):
    """The share at the caller's ``path``, locked with the home namespaces ``homes``, the caller's
    role checked after the lock; returns (place, journals)."""
    place = await share_root(conn, ctx, path)
    place.need(need)
    journals = await mounts.begin_all(conn, [place.ns_id, *homes], Author.of(ctx.caller))
    await members.require(conn, place.ns_id, ctx.caller.user_id, need)
    return place, journals


async def invite(conn: asyncpg.Connection, ctx: Context, path: str, name: str, role: str) -> Invitation:
    role = check_role(role)
    invitee = await user_id_of(conn, name)
    place, journals = await _locked_share(conn, ctx, path, members.MANAGE)
    if await members.role_of(conn, place.ns_id, invitee) is not None:
        raise AlreadyExists(f"{name} is a member of {path} already")
    try:
        row = await conn.fetchrow(
            """INSERT INTO share_invitations (ns_id, inviter_id, invitee_id, role) VALUES ($1, $2, $3, $4)
               RETURNING id""",
            place.ns_id, ctx.caller.user_id, invitee, role,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"{name} has a pending invitation to {path} already") from None
    return (await invitations(conn, "i.id = $1", row["id"]))[0]


async def invitations(conn: asyncpg.Connection, where: str, *args: Any) -> list[Invitation]:
    rows = await conn.fetch(
        f"""SELECT i.id, n.name AS share, a.name AS inviter, b.name AS invitee, i.role, i.state, i.created_at
              FROM share_invitations i JOIN namespaces n ON n.id = i.ns_id
              LEFT JOIN users a ON a.id = i.inviter_id JOIN users b ON b.id = i.invitee_id
             WHERE {where} ORDER BY i.id""",
        *args,
    )
    return [
        Invitation(r["id"], r["share"] or "", r["inviter"], r["invitee"], r["role"], r["state"], r["created_at"].timestamp())
        for r in rows
    ]


async def _pending(conn: asyncpg.Connection, ctx: Context, inv_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        """SELECT i.id, i.ns_id, i.role, n.name FROM share_invitations i JOIN namespaces n ON n.id = i.ns_id
            WHERE i.id = $1 AND i.invitee_id = $2 AND i.state = 'pending' AND n.unshared_at IS NULL FOR UPDATE OF i""",
        inv_id,
        ctx.caller.user_id,
    )
    if row is None:
        raise NotFound(f"no pending invitation {inv_id} for you")
    return row


async def accept(conn: asyncpg.Connection, ctx: Context, inv_id: int, at: str | None) -> str:
    """Accept an invitation: the caller becomes a member, the share mounted at ``at`` (default
    ``/<name>``; " (2)" and so on when taken). Returns the mount path."""
    inv = await _pending(conn, ctx, inv_id)
    uid = ctx.caller.user_id
    journals = await mounts.begin_all(conn, [inv["ns_id"], ctx.ns_id], Author.of(ctx.caller))
    inv = await _pending(conn, ctx, inv_id)  # not cancelled while we waited for the locks
    wanted = at if at is not None else paths.join(paths.ROOT, inv["name"] or f"share {inv['ns_id']}")
    path = await mounts.free_path(conn, uid, ctx.ns_id, wanted)
    parent = paths.parent(path)
    if parent != paths.ROOT:  # the folders above the mount point: ordinary folders of the home tree
        await ops.ensure_parents(journals[ctx.ns_id], path)
    await conn.execute("INSERT INTO ns_members (ns_id, user_id, role) VALUES ($1, $2, $3)", inv["ns_id"], uid, inv["role"])
    await mounts.add(conn, journals[ctx.ns_id], uid, inv["ns_id"], path)
    await conn.execute("UPDATE share_invitations SET state = 'accepted', decided_at = now() WHERE id = $1", inv_id)
    await mounts.flush_all(journals)
    return path


async def decline(conn: asyncpg.Connection, ctx: Context, inv_id: int) -> None:
    await _pending(conn, ctx, inv_id)
    await conn.execute("UPDATE share_invitations SET state = 'declined', decided_at = now() WHERE id = $1", inv_id)


async def _member(conn: asyncpg.Connection, ns_id: int, name: str) -> tuple[int, str]:
    user_id = await user_id_of(conn, name)
    role = await members.role_of(conn, ns_id, user_id)
    if role is None:
        raise NotFound(f"{name} is not a member of this shared folder")
    return user_id, role


async def set_role(conn: asyncpg.Connection, ctx: Context, path: str, name: str, role: str) -> None:
    """Give member ``name`` ``role``. Their mount point is journaled again in their home (a folder
    row at its path): it wakes their devices' long-polls, and the feed says the mount with the
    new role, so their sync daemons learn that the share is read-only (or writable) now."""
    role = check_role(role)
    home = (await mounts.homes_of(conn, [await user_id_of(conn, name)])).values()
    place, journals = await _locked_share(conn, ctx, path, members.MANAGE, *home)
    user_id, current = await _member(conn, place.ns_id, name)
    if current == members.OWNER:
        raise BadRequest("the owner's role cannot change")
    await conn.execute("UPDATE ns_members SET role = $3 WHERE ns_id = $1 AND user_id = $2", place.ns_id, user_id, role)
    for home_ns in home:
        mount = await conn.fetchrow("SELECT path, path_key FROM mounts WHERE ns_id = $1 AND user_id = $2", place.ns_id, user_id)
        if mount is not None:
            mounts.journal_point(journals[home_ns], mount["path"])
    await mounts.flush_all(journals)


async def remove(conn: asyncpg.Connection, ctx: Context, path: str, name: str | None) -> None:
    """Remove member ``name`` (the owner only), or the caller (``name`` None: leave). The member's
    mount goes at once; their pending invitation to the share, if any, is cancelled; the links
    they made into it are turned off."""
    place = await share_root(conn, ctx, path)
    if name is None:
        user_id = ctx.caller.user_id
        if place.role == members.OWNER:
            raise BadRequest("the owner cannot leave a shared folder: unshare it (tessera share unshare)")
        need = members.READ
    else:
        user_id, need = await user_id_of(conn, name), members.MANAGE
    home = (await mounts.homes_of(conn, [user_id]))[user_id]
    place, journals = await _locked_share(conn, ctx, path, need, home)
    cancelled = await conn.execute(
        """UPDATE share_invitations SET state = 'cancelled', decided_at = now()
            WHERE ns_id = $1 AND invitee_id = $2 AND state = 'pending'""",
        place.ns_id,
        user_id,
    )
    role = await members.role_of(conn, place.ns_id, user_id)
    if role == members.OWNER:
        raise BadRequest("the owner cannot be removed: unshare the folder instead")
    if role is None and cancelled.endswith(" 0"):
        raise NotFound(f"{name} is not a member of {path}")
    await conn.execute("DELETE FROM ns_members WHERE ns_id = $1 AND user_id = $2", place.ns_id, user_id)
    await links_store.revoke_made_by(conn, place.ns_id, user_id)  # their links into it stop with their access
    await mounts.drop(conn, {user_id: journals[home]}, place.ns_id, [user_id])
    await mounts.flush_all(journals)


async def listing(conn: asyncpg.Connection, ctx: Context) -> ShareList:
    """The caller's shares (with members; pending invitations to the owner) and invitations to them."""
    shares = []
    for m in await mounts_of(conn, ctx.caller.user_id):
        rows = await conn.fetch(
            """SELECT u.name, m.role FROM ns_members m JOIN users u ON u.id = m.user_id
                WHERE m.ns_id = $1 ORDER BY m.role <> 'owner', u.name_key""",
            m.ns_id,
        )
        people = tuple(Member(r["name"], r["role"]) for r in rows)
        owner = next((p.user for p in people if p.role == members.OWNER), "")
        pending = await invitations(conn, "i.ns_id = $1 AND i.state = 'pending'", m.ns_id) if m.role == members.OWNER else []
        shares.append(Share(m.ns_id, m.name, m.path, m.role, owner, people, tuple(pending)))
    shares.sort(key=lambda s: paths.path_key(s.path))
    mine = await invitations(conn, "i.invitee_id = $1 AND i.state = 'pending' AND n.unshared_at IS NULL", ctx.caller.user_id)
    return ShareList(tuple(shares), tuple(mine))
