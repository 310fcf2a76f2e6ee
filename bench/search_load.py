"""Loading the ``search`` scenario's synthetic trees straight into the database, by COPY.

A million entries through the API would take hours and measure uploads, not search: the rows
go in as the servers would have written them (an entry per file and folder, with its folded
name; a version per file; about 1 file in 25 a deletion marker, as the trash holds them), in
the tables' own binary COPY format. Users that the scenario logs in as are made by
``tessera-server user add`` first; the rest are rows with a password hash nobody can match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator

import asyncpg

from protocol import paths
from protocol.search import fold

from .search_names import tree

#: the share of files that are deletion markers (in the trash)
DELETED_SHARE = 0.04
#: rows per COPY
CHUNK = 50_000
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ENTRY_COLUMNS = ("ns_id", "path_key", "parent_key", "path", "kind", "rev", "deleted", "seq", "modified_at", "name_fold")
_VERSION_COLUMNS = ("id", "ns_id", "path", "size", "content_hash", "block_count", "device_name", "created_at")


async def add_users(conn: asyncpg.Connection, count: int, prefix: str) -> list[int]:
    """``count`` users that cannot log in, each with a home namespace; their namespace ids."""
    rows = await conn.fetch(
        """WITH u AS (
               INSERT INTO users (name, name_key, password_hash)
               SELECT $1 || i, $1 || i, '!' FROM generate_series(1, $2) AS i RETURNING id
           )
           INSERT INTO namespaces (owner_id, kind) SELECT id, 'home' FROM u RETURNING id""",
        prefix,
        count,
    )
    return sorted(r["id"] for r in rows)


async def home_namespace(conn: asyncpg.Connection, user: str) -> int:
    return await conn.fetchval(
        "SELECT n.id FROM namespaces n JOIN users u ON u.id = n.owner_id WHERE u.name_key = $1 AND n.kind = 'home'",
        user.casefold(),
    )


async def load_tree(conn: asyncpg.Connection, ns_id: int, seed: int, files: int) -> int:
    """Write a tree of about ``files`` files (:func:`bench.search_names.tree`) into namespace
    ``ns_id``, with a version per file; the number of entries written."""
    first_rev = await conn.fetchval(  # reserve the version ids: the tree has at most `files` files
        "SELECT setval(s, nextval(s) + $1) - $1 FROM pg_get_serial_sequence('versions', 'id') AS s", files
    )
    entries, versions = _rows(ns_id, seed, files, first_rev)
    n = 0
    for chunk in _chunks(versions):
        await conn.copy_records_to_table("versions", records=chunk, columns=_VERSION_COLUMNS)
    for chunk in _chunks(entries):
        await conn.copy_records_to_table("entries", records=chunk, columns=_ENTRY_COLUMNS)
        n += len(chunk)
    await conn.execute("UPDATE namespaces SET last_seq = greatest(last_seq, $2) WHERE id = $1", ns_id, n)
    return n


def _rows(ns_id: int, seed: int, files: int, first_rev: int) -> tuple[list[tuple], list[tuple]]:
    r = random.Random(seed ^ 0x5EA4C4)
    entries: list[tuple] = []
    versions: list[tuple] = []
    rev = first_rev
    for seq, (path, kind, size) in enumerate(tree(seed, files), start=1):
        when = _EPOCH - dt.timedelta(seconds=r.randrange(3 * 365 * 86400))
        key = paths.path_key(path)
        file_rev = None
        if kind == "file":
            file_rev = rev
            rev += 1
            digest = hashlib.sha256(key.encode()).digest()
            versions.append((file_rev, ns_id, path, size, digest, -(-size // (4 << 20)), "bench", when))
        deleted = kind == "file" and r.random() < DELETED_SHARE
        name = paths.basename(path)
        entries.append(
            (ns_id, key, paths.path_key(paths.parent(path)), path, kind, file_rev, deleted, seq, when, fold(name))
        )
    return entries, versions


def _chunks(rows: list[tuple]) -> Iterator[list[tuple]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]
