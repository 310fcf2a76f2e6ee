"""metaserver/core/migrate.py: SQL and Python migrations in order; 009 folds the names already there."""

from __future__ import annotations

import importlib
import uuid

import asyncpg

from metaserver.core import migrate
from protocol import paths
from protocol.search import fold
from tests.conftest import _dsn_with_db

NAMES = ["Résumé.PDF", "Straße", "ÆRØ", "ﬁnal", "plain.txt", "Ὀδυσσεύς", "東京"]


def test_migrations_are_numbered_sql_files_and_python_modules():
    found = migrate.available()
    versions = [v for v, _, _ in found]
    assert versions == sorted(versions) and versions[0] == 1 and 9 in versions
    assert all(callable(step) for _, _, step in found)
    assert dict((v, n) for v, n, _ in found)[9] == "search"


async def test_an_existing_database_gets_its_names_folded(pg_template, monkeypatch):
    """A database at 008 with entries in it: migration 009 folds every name, in batches."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_template)
    await admin.execute(f"CREATE DATABASE {name}")
    conn = await asyncpg.connect(_dsn_with_db(pg_template, name))
    try:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                           " applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
        for version, step_name, step in migrate.available():
            if version < 9:
                await step(conn)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, step_name)
        user = await conn.fetchval("INSERT INTO users (name, name_key, password_hash) VALUES ('u', 'u', '!') RETURNING id")
        ns = await conn.fetchval("INSERT INTO namespaces (owner_id, kind) VALUES ($1, 'home') RETURNING id", user)
        rows = [f"/Folder {i}/{n}" for i in range(4) for n in NAMES]
        await conn.executemany(
            "INSERT INTO entries (ns_id, path_key, parent_key, path, kind, seq) VALUES ($1, $2, $3, $4, 'folder', 1)",
            [(ns, paths.path_key(p), paths.path_key(paths.parent(p)), p) for p in rows],
        )
        monkeypatch.setattr(importlib.import_module("migrations.009_search"), "BATCH", 5)
        assert 9 in await migrate.apply(conn)
        got = {r["path"]: r["name_fold"] for r in await conn.fetch("SELECT path, name_fold FROM entries")}
        assert got == {p: fold(paths.basename(p)) for p in rows}
        assert got["/Folder 2/Straße"] == "strasse"
        assert await conn.fetchval("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'entries'::regclass"
                                   " AND attname = 'name_fold'")  # fmt: skip
        indexes = "SELECT count(*) FROM pg_indexes WHERE indexname IN ('entries_search', 'entries_search_prefix')"
        assert await conn.fetchval(indexes) == 2
        assert await migrate.apply(conn) == []  # once
    finally:
        await conn.close()
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
