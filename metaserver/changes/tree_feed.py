"""The change feed of a device's whole tree: its home namespace and every share mounted in it,
behind one :class:`~metaserver.changes.cursor.TreeCursor`.

A page takes the namespaces in order (the home first, then the mounts by namespace id), each
from its own position, until the page is full; the entries of a share come with the caller's
paths (its mount path before them). A share the cursor does not know yet (just mounted, or a
cursor from before shared folders) is listed from the start, its mount point first; one the
tree no longer has is dropped from the cursor: its mount's deletion is in the home's journal,
where every mount change is a folder row or its deletion (metaserver/sharing/mounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from protocol import paths
from protocol.errors import CursorReset
from protocol.messages.changes import ChangesPage
from protocol.messages.files import Metadata

from ..core.callers import Context
from ..sharing.places import Mount, Place, locate, mounts_of
from . import feed
from .cursor import Cursor, TreeCursor


@dataclass(frozen=True, slots=True)
class Tree:
    """The namespaces one device's feed covers: (namespace, the place of its root), home first."""

    roots: tuple[tuple[int, Place], ...]

    @property
    def namespaces(self) -> frozenset[int]:
        return frozenset(ns for ns, _ in self.roots)

    @property
    def home(self) -> int:
        return self.roots[0][0]

    def mount_point(self, ns: int, root: Place) -> Metadata:
        """The mount point of share ``ns`` (at ``root``): a folder that says the share and the
        caller's role in it, so a sync daemon knows which of its folders it may not write."""
        return Metadata("folder", root.prefix, paths.basename(root.prefix), shared=True, ns_id=ns, role=root.role)

    def marked(self, entries: list[Metadata]) -> list[Metadata]:
        """The home's ``entries``, each folder row at a current mount point said as that mount."""
        mounts = {paths.path_key(root.prefix): (ns, root) for ns, root in self.roots if root.prefix}
        if not mounts:
            return entries
        return [
            self.mount_point(*mounts[key]) if e.kind == "folder" and (key := paths.path_key(e.path)) in mounts else e
            for e in entries
        ]


def tree_of(home: int, mounts: list[Mount]) -> Tree:
    shares = sorted(mounts, key=lambda m: m.ns_id)
    return Tree(((home, locate(home, (), "/")), *((m.ns_id, locate(home, mounts, m.path)) for m in shares)))


async def load(conn: asyncpg.Connection, ctx: Context) -> Tree:
    return tree_of(ctx.ns_id, await mounts_of(conn, ctx.caller.user_id))


def positions(tree: Tree, cursor: TreeCursor) -> dict[int, Cursor]:
    """The cursor's positions in the tree's namespaces; CursorReset if it has none in its home
    (another account's cursor)."""
    known = cursor.by_namespace()
    if tree.home not in known:
        raise CursorReset("the cursor does not belong to this account's tree; list again")
    return {ns: c for ns, c in known.items() if ns in tree.namespaces}


async def page(conn: asyncpg.Connection, tree: Tree, cursor: TreeCursor | None, limit: int) -> ChangesPage:
    """One page of the tree's changes after ``cursor`` (None: the full listing), in a
    REPEATABLE READ transaction."""
    known = positions(tree, cursor) if cursor is not None else {}
    found: list[Metadata] = []
    nxt: list[Cursor] = []
    more = False
    for ns, root in tree.roots:
        pos = known.get(ns)
        room = limit - len(found)
        if room <= 0:
            more = True
            if pos is not None:
                nxt.append(pos)
            continue
        if pos is None and root.prefix:  # a share new to this cursor: its mount point first
            found.append(tree.mount_point(ns, root))
        got, after, has_more, _ = await feed.namespace_page(conn, ns, pos, room)
        found += [root.out(e) for e in got] if root.prefix else tree.marked(got)
        nxt.append(after)
        more = more or has_more
    return ChangesPage(found, TreeCursor(tuple(nxt)).encode(), more, cursor is None)


async def latest(conn: asyncpg.Connection, tree: Tree) -> TreeCursor:
    rows = await conn.fetch("SELECT id, last_seq FROM namespaces WHERE id = ANY($1::bigint[])", list(tree.namespaces))
    last = {r["id"]: r["last_seq"] for r in rows}
    return TreeCursor(tuple(Cursor(ns, last[ns]) for ns, _ in tree.roots if ns in last))
