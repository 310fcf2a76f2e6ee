"""Search by name (metaserver/search/): every live entry's and every trash row's name folded for
search, and their indexes. It runs after 008 (the trash), and searches both tables.

- ``entries.name_fold`` and ``trash.name_fold``: the name (the last part of the path) as
  :func:`protocol.search.fold` gives it (no case, no accents). NOT NULL with no default, so a
  writer that forgets it fails at once; each writer sets it from the name it writes
  (metaserver/tree/ops.py for entries, metaserver/tree/trash.py for the trash), and this
  migration folds the names already there, in Python (PostgreSQL has no such fold: no
  ``unaccent`` in the embedded PostgreSQL, and ``lower()`` depends on the database's locale).
- ``entries_search`` and ``trash_search``: a GIN index on (``ARRAY[ns_id]``, the folded name's
  trigrams), so a search of some namespaces is one ``&&`` on the index and reads no other
  namespace's rows (there is no btree_gin in the embedded PostgreSQL, so the namespace goes in
  as an array). Since 008 entries holds live entries only; what was deleted is searched in the
  trash (``deleted=true``). ``gin_trgm_ops`` serves both the substring match (``LIKE``) and the
  fuzzy one (``<%``, word similarity). New rows go to the index's pending list (``fastupdate``,
  on by default), which costs a commit no measurable CPU where writing them into the index at
  once cost 250 us an entry; every search reads the pending list, so it is kept to 512 kB
  (searches of a 100,000-file user took 9% more CPU with 4 MB pending, 2% with 512 kB;
  bench/RESULTS.md, "Search").
- ``entries_search_prefix``: a btree on (namespace, folded name in byte order) that also holds
  what ranking a name needs (kind, path key): the exact and prefix matches are read from it
  alone, in name order (an index-only scan of a range), so a query that many names start with
  ("m", "report") ranks them without reading the table, and a page they fill ends there
  (metaserver/search/query.py). ``trash_search_prefix``: the same range for the trash.
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
           ALTER TABLE entries ADD COLUMN name_fold text;
           ALTER TABLE trash ADD COLUMN name_fold text"""
    )
    await fold_existing(conn, "entries", "ns_id, path_key")
    await fold_existing(conn, "trash", "id")
    for table, include in (("entries", " INCLUDE (kind, path_key)"), ("trash", "")):
        await conn.execute(
            f"""ALTER TABLE {table} ALTER COLUMN name_fold SET NOT NULL;
                CREATE INDEX {table}_search ON {table} USING gin ((ARRAY[ns_id]), name_fold gin_trgm_ops)
                    WITH (gin_pending_list_limit = 512);
                CREATE INDEX {table}_search_prefix ON {table} (ns_id, name_fold COLLATE "C"){include}"""
        )


async def fold_existing(conn: asyncpg.Connection, table: str, key: str) -> None:
    """Set ``name_fold`` of every row of ``table`` that has none (a row is found by the columns
    ``key``: bigint, then text if two), ``BATCH`` rows per statement."""
    columns = key.split(", ")
    batch: list[tuple] = []
    async for row in conn.cursor(f"SELECT {key}, path FROM {table} WHERE name_fold IS NULL"):
        batch.append((*(row[c] for c in columns), fold(paths.basename(row["path"]))))
        if len(batch) >= BATCH:
            await _write(conn, table, columns, batch)
            batch = []
    if batch:
        await _write(conn, table, columns, batch)


async def _write(conn: asyncpg.Connection, table: str, columns: list[str], batch: list[tuple]) -> None:
    types = ["bigint", "text"][: len(columns)] + ["text"]
    arrays = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    match = " AND ".join(f"x.{c} = u.{c}" for c in columns)
    await conn.execute(
        f"""UPDATE {table} x SET name_fold = u.name_fold
              FROM unnest({arrays}) AS u({", ".join(columns)}, name_fold)
             WHERE {match}""",
        *([r[i] for r in batch] for i in range(len(types))),
    )
