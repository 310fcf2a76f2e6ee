"""Search by name (metaserver/search/): every entry's name folded for search, and a trigram index.

- ``entries.name_fold``: the entry's name (the last part of its path) as
  :func:`protocol.search.fold` gives it (no case, no accents). It is NOT NULL with no default, so
  a writer of ``entries`` that forgets it fails at once; each writer sets it from the name it
  writes (metaserver/tree/ops.py, metaserver/uploads/commit_batch.py), and this migration folds
  the names already there, in Python (PostgreSQL has no such fold: no ``unaccent`` in the
  embedded PostgreSQL, and ``lower()`` depends on the database's locale).
- ``entries_search``: one GIN index on (a scope key, the folded name's trigrams). The scope key
  is ``ARRAY[ns_id]`` for a live entry and ``ARRAY[-ns_id]`` for a deletion marker, so a search
  of some namespaces (with or without their deletion markers) is one ``&&`` on the index and
  reads no other namespace's rows (there is no btree_gin in the embedded PostgreSQL, so the
  namespace goes in as an array). ``gin_trgm_ops`` serves both the substring match (``LIKE``)
  and the fuzzy one (``<%``, word similarity). New entries go to the index's pending list
  (``fastupdate``, on by default), which costs a commit no measurable CPU where writing them
  into the index at once cost 250 us an entry; every search reads the pending list, so it is
  kept to 512 kB (searches of a 100,000-file user took 9% more CPU with 4 MB pending, 2% with
  512 kB; bench/RESULTS.md, "Search").
- ``entries_search_prefix``: a btree on (namespace, folded name in byte order) that also holds
  what ranking a name needs (deleted, kind, path key): the exact and prefix matches are read
  from it alone, in name order (an index-only scan of a range), so a query that many names
  start with ("m", "report") ranks them without reading the table, and a page they fill ends
  there (metaserver/search/query.py).
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.search import fold

#: rows folded per UPDATE
BATCH = 10_000


async def apply(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """CREATE EXTENSION IF NOT EXISTS pg_trgm;
           ALTER TABLE entries ADD COLUMN name_fold text"""
    )
    await fold_existing(conn)
    await conn.execute(
        """ALTER TABLE entries ALTER COLUMN name_fold SET NOT NULL;
           CREATE INDEX entries_search ON entries USING gin (
               (ARRAY[CASE WHEN deleted THEN -ns_id ELSE ns_id END]),
               name_fold gin_trgm_ops
           ) WITH (gin_pending_list_limit = 512);
           CREATE INDEX entries_search_prefix ON entries (ns_id, name_fold COLLATE "C")
               INCLUDE (deleted, kind, path_key)"""
    )


async def fold_existing(conn: asyncpg.Connection) -> None:
    """Set ``name_fold`` of every row that has none, ``BATCH`` rows per statement."""
    batch: list[tuple[int, str, str]] = []
    async for row in conn.cursor("SELECT ns_id, path_key, path FROM entries WHERE name_fold IS NULL"):
        batch.append((row["ns_id"], row["path_key"], fold(paths.basename(row["path"]))))
        if len(batch) >= BATCH:
            await _write(conn, batch)
            batch = []
    if batch:
        await _write(conn, batch)


async def _write(conn: asyncpg.Connection, batch: list[tuple[int, str, str]]) -> None:
    await conn.execute(
        """UPDATE entries e SET name_fold = u.name_fold
             FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(ns_id, path_key, name_fold)
            WHERE e.ns_id = u.ns_id AND e.path_key = u.path_key""",
        [r[0] for r in batch],
        [r[1] for r in batch],
        [r[2] for r in batch],
    )
