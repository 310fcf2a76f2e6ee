"""metaserver/core/migrate.py: SQL and Python migrations in order; 009 folds the names already there."""

from __future__ import annotations

import importlib

from metaserver.core import migrate
from protocol import paths
from protocol.search import fold
from tests.metaserver.core.test_migration_008 import old_database

NAMES = ["Résumé.PDF", "Straße", "ÆRØ", "ﬁnal", "plain.txt", "Ὀδυσσεύς", "東京"]


def test_migrations_are_numbered_sql_files_and_python_modules():
    found = migrate.available()
    versions = [v for v, _, _ in found]
    assert versions == sorted(versions) and versions[0] == 1 and 9 in versions
    assert all(callable(step) for _, _, step in found)
    assert dict((v, n) for v, n, _ in found)[9] == "search"


async def test_an_existing_database_gets_its_names_folded(pg_template, monkeypatch):
    """A database at 008 with entries and trash rows in it: migration 009 folds every name of
    both, in batches, and makes the search indexes."""
    async with old_database(pg_template, before=9) as conn:
        user = await conn.fetchval("INSERT INTO users (name, name_key, password_hash) VALUES ('u', 'u', '!') RETURNING id")
        ns = await conn.fetchval("INSERT INTO namespaces (owner_id, kind) VALUES ($1, 'home') RETURNING id", user)
        rows = [f"/Folder {i}/{n}" for i in range(4) for n in NAMES]
        await conn.executemany(
            "INSERT INTO entries (ns_id, path_key, parent_key, path, kind, seq) VALUES ($1, $2, $3, $4, 'folder', 1)",
            [(ns, paths.path_key(p), paths.path_key(paths.parent(p)), p) for p in rows],
        )
        trashed = [f"/Gone {i}/{n}" for i in range(2) for n in NAMES] * 2  # a path in the trash twice
        await conn.executemany(
            """INSERT INTO trash (ns_id, path_key, parent_key, path, kind, seq, files, bytes)
               VALUES ($1, $2, $3, $4, 'folder', 1, 0, 0)""",
            [(ns, paths.path_key(p), paths.path_key(paths.parent(p)), p) for p in trashed],
        )
        monkeypatch.setattr(importlib.import_module("migrations.009_search"), "BATCH", 5)
        assert 9 in await migrate.apply(conn)
        got = {r["path"]: r["name_fold"] for r in await conn.fetch("SELECT path, name_fold FROM entries")}
        assert got == {p: fold(paths.basename(p)) for p in rows}
        assert got["/Folder 2/Straße"] == "strasse"
        in_trash = [(r["path"], r["name_fold"]) for r in await conn.fetch("SELECT path, name_fold FROM trash")]
        assert sorted(in_trash) == sorted((p, fold(paths.basename(p))) for p in trashed)
        for table in ("entries", "trash"):
            assert await conn.fetchval("SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::regclass"
                                       " AND attname = 'name_fold'", table)  # fmt: skip
        indexes = "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%\\_search%' AND tablename IN ('entries', 'trash')"
        assert await conn.fetchval(indexes) == 4
        assert await migrate.apply(conn) == []  # once
