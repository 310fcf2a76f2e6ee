"""Who may do what in a namespace: a home namespace's owner does everything; a shared
namespace's members have a role (``ns_members``): owner (everything, including membership),
editor (read and write), viewer (read).

Every route checks the caller's role at the moment it acts: a write checks it inside its
transaction after :meth:`~metaserver.tree.journal.Journal.begin` has locked the namespace,
and every membership change takes the same lock, so a member removed or downgraded cannot
write once the change has committed, however their requests interleave with it.
"""

from __future__ import annotations

import asyncpg

from protocol.errors import NotAMember, NotOwner, ReadOnly

OWNER, EDITOR, VIEWER = "owner", "editor", "viewer"
ROLES = (OWNER, EDITOR, VIEWER)
#: what a route needs: to read, to write, to change the membership
READ, WRITE, MANAGE = "read", "write", "manage"
_ALLOWS = {OWNER: {READ, WRITE, MANAGE}, EDITOR: {READ, WRITE}, VIEWER: {READ}}


def allows(role: str, need: str) -> bool:
    return need in _ALLOWS.get(role, ())


def check(role: str | None, need: str) -> str:
    """``role`` if it allows ``need``; else the error that says why not."""
    if role is None:
        raise NotAMember()
    if not allows(role, need):
        if need == WRITE:
            raise ReadOnly()
        raise NotOwner()
    return role


async def role_of(conn: asyncpg.Connection, ns_id: int, user_id: int) -> str | None:
    """The user's role in the namespace now (None: they have none)."""
    row = await conn.fetchrow(
        """SELECT n.kind, n.owner_id, n.unshared_at IS NOT NULL AS unshared, m.role
             FROM namespaces n LEFT JOIN ns_members m ON m.ns_id = n.id AND m.user_id = $2
            WHERE n.id = $1""",
        ns_id,
        user_id,
    )
    if row is None or row["unshared"]:
        return None
    if row["kind"] == "home":
        return OWNER if row["owner_id"] == user_id else None
    return row["role"]


async def require(conn: asyncpg.Connection, ns_id: int, user_id: int, need: str) -> str:
    """The user's role in the namespace, if it allows ``need`` (NotAMember, ReadOnly, NotOwner otherwise)."""
    return check(await role_of(conn, ns_id, user_id), need)
