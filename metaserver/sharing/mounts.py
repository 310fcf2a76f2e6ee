"""Mounts: where a shared namespace appears in a member's home tree.

A mount appearing or disappearing is a change of the member's home tree: it is journaled in
their home namespace (a folder row at the mount path, or its deletion), which wakes their
devices' long-polls and tells their change feed. Namespaces are locked in id order by
:func:`begin_all`, whatever the operation, so two operations on the same namespaces never
wait on each other in a circle.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from protocol import paths
from protocol.errors import BadPath

from ..tree import entries
from ..tree.journal import Author, Journal
from .places import locate, mounts_of

#: the most " (n)" suffixes tried to find a free mount path
MAX_SUFFIX = 100


async def begin_all(conn: asyncpg.Connection, ns_ids: Iterable[int], author: Author) -> dict[int, Journal]:
    """A journal for each namespace, each locked, in id order."""
    return {ns: await Journal.begin(conn, ns, author) for ns in sorted(set(ns_ids))}


async def flush_all(journals: dict[int, Journal]) -> None:
    for j in journals.values():
        await j.flush()


async def homes_of(conn: asyncpg.Connection, user_ids: Iterable[int]) -> dict[int, int]:
    """The home namespace of each user."""
    rows = await conn.fetch(
        "SELECT owner_id, id FROM namespaces WHERE kind = 'home' AND owner_id = ANY($1::bigint[])", list(user_ids)
    )
    return {r["owner_id"]: r["id"] for r in rows}


async def free_path(conn: asyncpg.Connection, user_id: int, home: int, wanted: str) -> str:
    """``wanted``, or ``wanted (2)``, ``(3)``... whichever is free in the user's home tree (no
    entry and no mount there); BadPath if ``wanted`` is the root or inside a mount."""
    if wanted == paths.ROOT:
        raise BadPath("a shared folder cannot be mounted at the root")
    mounts = await mounts_of(conn, user_id)
    if locate(home, mounts, paths.parent(wanted)).prefix:
        raise BadPath(f"{paths.parent(wanted)} is inside a shared folder: mount it elsewhere")
    taken = {paths.path_key(m.path) for m in mounts}
    for n in range(1, MAX_SUFFIX + 1):
        candidate = wanted if n == 1 else f"{wanted} ({n})"
        key = paths.path_key(candidate)
        if key not in taken and await entries.get(conn, home, key) is None:
            return candidate
    raise BadPath(f"{wanted} and its numbered variants are all taken; choose another path with --at")


async def add(conn: asyncpg.Connection, home: Journal, user_id: int, ns_id: int, path: str) -> None:
    """Mount namespace ``ns_id`` at ``path`` of the user's home tree (``home``, locked)."""
    await conn.execute(
        "INSERT INTO mounts (user_id, ns_id, path, path_key, parent_key) VALUES ($1, $2, $3, $4, $5)",
        user_id, ns_id, path, paths.path_key(path), paths.path_key(paths.parent(path)),
    )  # fmt: skip
    journal_point(home, path)


def journal_point(home: Journal, path: str) -> None:
    """Journal the mount point at ``path`` in ``home`` (a folder row there, which the home's
    writes may not otherwise add: :data:`metaserver.tree.journal._COVERED`)."""
    home.mount_keys.append(paths.path_key(path))
    home.add(paths.path_key(path), path, "folder", None, False)


async def drop(conn: asyncpg.Connection, homes: dict[int, Journal], ns_id: int, user_ids: Iterable[int]) -> None:
    """Unmount namespace ``ns_id`` from these users' trees (their homes locked, by user id)."""
    rows = await conn.fetch(
        "DELETE FROM mounts WHERE ns_id = $1 AND user_id = ANY($2::bigint[]) RETURNING user_id, path, path_key",
        ns_id,
        list(user_ids),
    )
    for r in rows:
        homes[r["user_id"]].add(r["path_key"], r["path"], "folder", None, True)


def home_journals(journals: dict[int, Journal], home_of: dict[int, int]) -> dict[int, Journal]:
    """The home journals of users (``home_of``: user id -> home namespace id), by user id."""
    return {user: journals[ns] for user, ns in home_of.items()}

