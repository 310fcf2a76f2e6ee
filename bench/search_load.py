"""Loading the ``search`` scenario's synthetic trees straight into the database, by COPY.

A million entries through the API would take hours and measure uploads, not search: the rows
go in as the servers would have written them (an entry per file and folder, with its folded
name; a version per file; about 1 file in 25 in the trash instead, an item of its own), in the
tables' own binary COPY format. Users that the scenario logs in as are made by
``tessera-server user add`` first; the rest are rows with a password hash nobody can match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import random
from collections.abc import Iterator

import asyncpg

from protocol import paths
from protocol.search import fold

from .search_names import tree

#: the share of files that are in the trash (deleted) rather than live
DELETED_SHARE = 0.04
#: rows per COPY
CHUNK = 50_000
#: rows of one user written together (an upload of a folder of files)
BURST = 100
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ENTRY_COLUMNS = ("ns_id", "path_key", "parent_key", "path", "kind", "rev", "seq", "modified_at", "name_fold")
#: a trash row is an entry's columns (``modified_at`` as ``deleted_at``), an item of one file
_TRASH_COLUMNS = ("ns_id", "path_key", "parent_key", "path", "kind", "rev", "seq", "deleted_at", "name_fold", "files",
                  "bytes")  # fmt: skip
_VERSION_COLUMNS = ("id", "ns_id", "path", "size", "content_hash", "block_count", "device_name", "created_at", "file_id",
                    "number")  # fmt: skip


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


async def load_trees(conn: asyncpg.Connection, trees: list[tuple[int, int, int]], say=None) -> int:
    """Write each ``(ns_id, seed, files)`` tree (:func:`bench.search_names.tree`), with a version
    per file; the number of entries written.

    The users' rows go in :data:`BURST` at a time in a random order, so that each user's rows
    are spread over the whole table as when many users upload at once (not one user's rows in
    adjacent pages, which would make a search of them read fewer pages than it will).
    """
    rng = random.Random(len(trees))
    # a tree has some folders too (about 1 row in 30): the rows left after the schedule go last
    schedule = [i for i, (_, _, files) in enumerate(trees) for _ in range(-(-files * 11 // 10 // BURST) + 1)]
    rng.shuffle(schedule)
    schedule += range(len(trees))
    streams = [_rows(ns_id, seed, files) for ns_id, seed, files in trees]
    rev = await conn.fetchval(  # reserve the version ids: one per file
        "SELECT setval(s, nextval(s) + $1) - $1 FROM pg_get_serial_sequence('versions', 'id') AS s",
        sum(files for _, _, files in trees) + len(trees),
    )
    entries: list[tuple] = []
    trash: list[tuple] = []
    versions: list[tuple] = []
    written = 0
    for n, i in enumerate(schedule):
        rows = streams[i] if n >= len(schedule) - len(trees) else itertools.islice(streams[i], BURST)
        for entry, version, deleted in rows:
            if version is not None:
                rev += 1
                versions.append((rev, *version, rev, 1))  # the file's first version
            row = (*entry[:5], rev if version is not None else None, *entry[5:])
            if deleted:
                trash.append((*row, 1, version[2]))
            else:
                entries.append(row)
        if len(entries) + len(trash) >= CHUNK:
            written += await _copy(conn, entries, trash, versions)
            if say is not None:
                say(f"search: {written:,} entries loaded")
    written += await _copy(conn, entries, trash, versions)
    await conn.execute(
        "UPDATE namespaces n SET last_seq = greatest(n.last_seq, c.n) FROM (SELECT ns_id, count(*) AS n FROM entries"
        " GROUP BY ns_id) c WHERE c.ns_id = n.id"
    )
    return written


async def _copy(conn: asyncpg.Connection, entries: list[tuple], trash: list[tuple], versions: list[tuple]) -> int:
    """COPY the rows gathered so far (and empty the lists); how many entries and trash rows."""
    await conn.copy_records_to_table("versions", records=versions, columns=_VERSION_COLUMNS)
    await conn.copy_records_to_table("entries", records=entries, columns=_ENTRY_COLUMNS)
    await conn.copy_records_to_table("trash", records=trash, columns=_TRASH_COLUMNS)
    n = len(entries) + len(trash)
    for rows in (entries, trash, versions):
        rows.clear()
    return n


def _rows(ns_id: int, seed: int, files: int) -> Iterator[tuple[tuple, tuple | None, bool]]:
    """(entry without its rev, version without its id or None, in the trash) for each row of a tree."""
    r = random.Random(seed ^ 0x5EA4C4)
    for seq, (path, kind, size) in enumerate(tree(seed, files), start=1):
        when = _EPOCH - dt.timedelta(seconds=r.randrange(3 * 365 * 86400))
        key = paths.path_key(path)
        version = None
        if kind == "file":
            digest = hashlib.sha256(key.encode()).digest()
            version = (ns_id, path, size, digest, -(-size // (4 << 20)), "bench", when)
        deleted = kind == "file" and r.random() < DELETED_SHARE
        name = paths.basename(path)
        yield (ns_id, key, paths.path_key(paths.parent(path)), path, kind, seq, when, fold(name)), version, deleted
