"""Migration 010 (the reservation counters on the user's row), on a database that a server with
migration 012 made (its open sessions hold their reservations from then on) and on a new one
(where it runs before 012)."""

from __future__ import annotations

from metaserver.core import migrate
from tests.metaserver.core.test_migration_008 import old_database

SESSIONS = """
INSERT INTO users (id, name, name_key, password_hash) VALUES (1, 'alice', 'alice', 'x'), (2, 'bob', 'bob', 'x');
INSERT INTO namespaces (id, owner_id, kind) VALUES (10, 1, 'home'), (20, 2, 'home');
INSERT INTO upload_sessions (id, user_id, ns_id, path, size, content_hash, block_count, mode, device_name, state,
                             expires_at, reserved_blocks, reserved_bytes) VALUES
  ('00000000000000000000000000000001', 1, 10, '/open1', 5, '\\x00', 1, 'add', 'd', 'open', now() + interval '1 h', 1, 5),
  ('00000000000000000000000000000002', 1, 10, '/open2', 7, '\\x00', 2, 'add', 'd', 'open', now() + interval '1 h', 2, 7),
  ('00000000000000000000000000000003', 1, 10, '/expired', 9, '\\x00', 1, 'add', 'd', 'open', now() - interval '1 s', 1, 9),
  ('00000000000000000000000000000004', 1, 10, '/done', 11, '\\x00', 1, 'add', 'd', 'committed', now() + interval '1 h', 1, 11),
  ('00000000000000000000000000000005', 2, 20, '/bob', 13, '\\x00', 3, 'add', 'd', 'open', now() + interval '1 h', 3, 13);
"""


async def counters(conn) -> dict[str, tuple[int, int, int]]:
    rows = await conn.fetch("SELECT name, reserving_sessions, reserved_blocks, reserved_bytes FROM users ORDER BY id")
    return {r["name"]: tuple(r.values())[1:] for r in rows}


async def test_migration_010_counts_the_open_sessions_of_an_older_server(pg_template):
    async with old_database(pg_template, before=1000, skip=(10,)) as conn:
        await conn.execute(SESSIONS)
        assert await migrate.apply(conn) == [10]
        assert await counters(conn) == {"alice": (2, 3, 12), "bob": (1, 3, 13)}
        held = await conn.fetchval("SELECT array_agg(path ORDER BY path) FROM upload_sessions WHERE reservation_held")
        assert held == ["/bob", "/open1", "/open2"]
        # from now on the trigger keeps them: a part listed, a session aborted, a tombstone removed
        await conn.execute("UPDATE upload_sessions SET reserved_bytes = reserved_bytes + 100 WHERE path = '/open1'")
        await conn.execute("UPDATE upload_sessions SET reservation_held = false WHERE path = '/open2'")
        await conn.execute("DELETE FROM upload_sessions WHERE path IN ('/bob', '/done')")
        assert await counters(conn) == {"alice": (1, 1, 105), "bob": (0, 0, 0)}


async def test_migration_010_before_012_on_a_new_database(pg_template):
    async with old_database(pg_template, before=1) as conn:
        assert await migrate.apply(conn) == [v for v, _, _ in migrate.available()]
        await conn.execute(SESSIONS)
        assert await counters(conn) == {"alice": (4, 5, 32), "bob": (1, 3, 13)}  # every new row holds its own
