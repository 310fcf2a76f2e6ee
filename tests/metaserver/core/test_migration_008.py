"""Migration 008 on a database that older servers wrote: files get their identity and numbers
from their parent_rev chains, deletion markers become trash (a moved file's old path does not),
a deleted file restored the old way keeps its history, the counters start equal to a recount."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from metaserver.core import migrate
from metaserver.tree import usage
from tests.conftest import fresh_database


@contextlib.asynccontextmanager
async def old_database(pg_template: str, before: int = 8, skip: tuple[int, ...] = ()) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a new database with the migrations before ``before`` applied, but those in
    ``skip`` (a database that older servers made); the database is dropped afterwards."""
    async with fresh_database(pg_template, migrated=False) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for version, mig_name, step in migrate.available():
                if version < before and version not in skip:
                    async with conn.transaction():  # as migrate.apply runs each (009 reads with a cursor)
                        await step(conn)
                    await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, mig_name)
            yield conn
        finally:
            await conn.close()


OLD_DATA = """
INSERT INTO users (id, name, name_key, password_hash) VALUES (1, 'alice', 'alice', 'x');
INSERT INTO namespaces (id, owner_id, kind, last_seq) VALUES (10, 1, 'home', 20);
INSERT INTO blocks (id, owner_id, size, md5, sha256, state) VALUES
  ('00000000000000000000000000000001', 1, 100, '\\x00', '\\x01', 'stored'),
  ('00000000000000000000000000000002', 1, 200, '\\x00', '\\x02', 'stored'),
  ('00000000000000000000000000000003', 1, 300, '\\x00', '\\x03', 'stored'),
  ('00000000000000000000000000000004', 1, 400, '\\x00', '\\x04', 'stored');
-- /a.txt: rev 1, then rev 2 (its parent); rev 2 shares rev 1's block and adds one
INSERT INTO versions (id, ns_id, path, size, content_hash, block_count, parent_rev, device_name, user_id) VALUES
  (1, 10, '/a.txt', 100, '\\x01', 1, NULL, 'laptop', 1),
  (2, 10, '/a.txt', 300, '\\x02', 2, 1, 'laptop', 1),
-- /old.txt moved to /New.txt
  (3, 10, '/old.txt', 300, '\\x03', 1, NULL, 'laptop', 1),
-- /gone.txt deleted
  (4, 10, '/gone.txt', 100, '\\x04', 1, NULL, 'phone', 1),
-- /back.txt deleted, then rev 5 restored as rev 6 with no parent (the old restore of a deleted file)
  (5, 10, '/back.txt', 400, '\\x05', 1, NULL, 'laptop', 1),
  (6, 10, '/back.txt', 400, '\\x05', 1, NULL, 'laptop', 1),
-- /F/x.txt deleted with its folder
  (7, 10, '/F/x.txt', 200, '\\x07', 1, NULL, 'laptop', 1),
-- /lost.txt deleted, its marker overwritten by a folder of that name since
  (8, 10, '/lost.txt', 200, '\\x08', 1, NULL, 'laptop', 1);
INSERT INTO version_blocks (version_id, idx, block_id) VALUES
  (1, 0, '00000000000000000000000000000001'), (2, 0, '00000000000000000000000000000001'),
  (2, 1, '00000000000000000000000000000002'), (3, 0, '00000000000000000000000000000003'),
  (4, 0, '00000000000000000000000000000001'), (5, 0, '00000000000000000000000000000004'),
  (6, 0, '00000000000000000000000000000004'), (7, 0, '00000000000000000000000000000002'),
  (8, 0, '00000000000000000000000000000002');
INSERT INTO entries (ns_id, path_key, parent_key, path, kind, rev, deleted, seq) VALUES
  (10, '/a.txt', '/', '/a.txt', 'file', 2, false, 2),
  (10, '/old.txt', '/', '/old.txt', 'file', 3, true, 4),
  (10, '/new.txt', '/', '/New.txt', 'file', 3, false, 5),
  (10, '/gone.txt', '/', '/gone.txt', 'file', 4, true, 7),
  (10, '/back.txt', '/', '/back.txt', 'file', 6, false, 10),
  (10, '/f', '/', '/F', 'folder', NULL, true, 13),
  (10, '/f/x.txt', '/f', '/F/x.txt', 'file', 7, true, 12),
  (10, '/lost.txt', '/', '/lost.txt', 'folder', NULL, false, 15);
INSERT INTO journal (ns_id, seq, path_key, path, kind, rev, deleted) VALUES
  (10, 1, '/a.txt', '/a.txt', 'file', 1, false), (10, 2, '/a.txt', '/a.txt', 'file', 2, false),
  (10, 3, '/old.txt', '/old.txt', 'file', 3, false), (10, 4, '/old.txt', '/old.txt', 'file', 3, true),
  (10, 5, '/new.txt', '/New.txt', 'file', 3, false), (10, 6, '/gone.txt', '/gone.txt', 'file', 4, false),
  (10, 7, '/gone.txt', '/gone.txt', 'file', 4, true), (10, 8, '/back.txt', '/back.txt', 'file', 5, false),
  (10, 9, '/back.txt', '/back.txt', 'file', 5, true), (10, 10, '/back.txt', '/back.txt', 'file', 6, false),
  (10, 11, '/f/x.txt', '/F/x.txt', 'file', 7, false), (10, 12, '/f/x.txt', '/F/x.txt', 'file', 7, true),
  (10, 13, '/f', '/F', 'folder', NULL, true), (10, 14, '/lost.txt', '/lost.txt', 'file', 8, false),
  (10, 15, '/lost.txt', '/lost.txt', 'folder', NULL, false);
"""


async def test_migration_008_on_old_data(pg_template):
    async with old_database(pg_template) as conn:
        await conn.execute(OLD_DATA)
        assert await migrate.apply(conn) == [v for v, _, _ in migrate.available() if v >= 8]
        files = {r["id"]: (r["file_id"], r["number"]) for r in await conn.fetch("SELECT id, file_id, number FROM versions")}
        assert files == {
            1: (1, 1), 2: (1, 2),  # a chain is a file
            3: (3, 1),  # moved: one file
            4: (4, 1),
            5: (6, 1), 6: (6, 2),  # restored the old way: the deleted chain joins the file at its path
            7: (7, 1),
            8: (8, 1),
        }  # fmt: skip
        trash = await conn.fetch("SELECT path, path_key, parent_key, kind, rev, top_id, files, bytes FROM trash ORDER BY rev")
        assert [tuple(r) for r in trash] == [
            ("/gone.txt", "/gone.txt", "/", "file", 4, None, 1, 100),
            ("/F/x.txt", "/f/x.txt", "/f", "file", 7, None, 1, 200),
            ("/lost.txt", "/lost.txt", "/", "file", 8, None, 1, 200),
        ]
        assert await conn.fetchval("SELECT count(*) FROM entries WHERE deleted") == 0
        assert await conn.fetchval("SELECT ns_id FROM blocks GROUP BY ns_id") == 10
        kept, counted = await usage.of_namespace(conn, 10), await usage.recount(conn, 10)
        assert kept == counted == usage.Usage(
            current_bytes=300 + 300 + 400, version_bytes=100 + 400, trash_bytes=100 + 200 + 200,
            stored_bytes=100 + 200 + 300 + 400,
        )  # fmt: skip
        assert await migrate.apply(conn) == []
