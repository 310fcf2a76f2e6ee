"""The ``search`` scenario's shared round (issue 18: search and list stay as fast in a shared
folder as in a home namespace).

After the big user's rounds in their home, their whole tree becomes a shared folder as `share
create` makes one (its rows change namespace, nothing else moves: metaserver/sharing/moves.py),
done here by SQL on the loaded rows, and a second account joins it as an editor, mounted at
:data:`MOUNT`. That member then sends the same searches, and lists the same folders, through
their mount: the ratio of each to the owner's figures in their home, from the same run, is the
cost of reaching a tree through a mount.
"""

from __future__ import annotations

import time

import asyncpg

from protocol import paths

MOUNT = "/Shared tree"
#: folders listed (the first page of each) per round
LISTED = 100


async def folders(dsn: str, ns_id: int) -> list[str]:
    """Some folders of namespace ``ns_id`` with files in them, the same ones every run."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT path FROM entries WHERE ns_id = $1 AND kind = 'folder' AND NOT deleted ORDER BY path_key LIMIT $2",
            ns_id,
            LISTED,
        )
    finally:
        await conn.close()
    return [r["path"] for r in rows]


async def share_tree(dsn: str, home_ns: int, member: str) -> int:
    """Turn every row of namespace ``home_ns`` into a new shared namespace its owner owns, with
    ``member`` an editor mounted at :data:`MOUNT`; the new namespace's id."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            owner = await conn.fetchval("SELECT owner_id FROM namespaces WHERE id = $1", home_ns)
            member_id = await conn.fetchval("SELECT id FROM users WHERE name = $1", member)
            ns = await conn.fetchval(
                "INSERT INTO namespaces (owner_id, kind, name, last_seq) SELECT owner_id, 'shared', 'Shared tree', last_seq"
                " FROM namespaces WHERE id = $1 RETURNING id",
                home_ns,
            )
            for table in ("entries", "versions", "trash", "journal", "blocks"):
                await conn.execute(f"UPDATE {table} SET ns_id = $2 WHERE ns_id = $1", home_ns, ns)
            await conn.execute(
                "INSERT INTO ns_members (ns_id, user_id, role) VALUES ($1, $2, 'owner'), ($1, $3, 'editor')", ns, owner, member_id
            )
            await conn.execute(
                "INSERT INTO mounts (user_id, ns_id, path, path_key, parent_key) VALUES ($1, $2, $3, $4, $5)",
                member_id, ns, MOUNT, paths.path_key(MOUNT), paths.path_key(paths.ROOT),
            )  # fmt: skip
        for table in ("entries", "versions", "trash"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return ns


def in_mount(path: str) -> str:
    return MOUNT + path


async def lists(client, where: list[str]) -> list[float]:
    """The first page of each folder's listing, timed."""
    out = []
    for path in where[:5]:  # warm
        await anext(client.list_folder(path, limit=100))
    for path in where:
        t = time.perf_counter()
        await anext(client.list_folder(path, limit=100))
        out.append(time.perf_counter() - t)
    return out
