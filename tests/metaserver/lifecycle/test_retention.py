"""Retention (metaserver/lifecycle/): the rule, and pruning runs with a fake clock that thin
versions and empty the trash exactly as docs/operations.md says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from metaserver.lifecycle import PRUNE_LOCK_ID, keeps, prune
from metaserver.tree import usage
from tests.metaserver.conftest import blocks_of, mark_stored
from tests.metaserver.tree.test_trash import counters_match, ns_of, trash_of
from tests.metaserver.uploads.test_sessions import upload

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_rule():
    day = timedelta(days=1)
    # the current version (never superseded) is kept however old
    assert keeps(NOW - 1000 * day, None, NOW, 30)
    # every version superseded in the last 24 hours is kept, even several of one minute
    assert keeps(NOW - timedelta(minutes=2), NOW - timedelta(minutes=1), NOW, 30)
    assert keeps(NOW - 40 * day, NOW - timedelta(hours=23, minutes=59), NOW, 30)
    # before that: the last of its day (UTC) is kept, the others go
    assert keeps(at("2026-03-20 09:00"), at("2026-03-21 08:00"), NOW, 30)
    assert not keeps(at("2026-03-20 09:00"), at("2026-03-20 23:59"), NOW, 30)
    # retention counts from the replacement: a year-old version replaced 29 days ago stays
    assert keeps(NOW - 365 * day, NOW - 29 * day, NOW, 30)
    assert not keeps(NOW - 365 * day, NOW - 30 * day, NOW, 30)
    assert not keeps(NOW - 9 * day, NOW - 8 * day, NOW, 7)  # a user's own retention


async def versions_of(pool, path: str) -> list[int]:
    rows = await pool.fetch(
        """SELECT v.number FROM versions v JOIN entries e ON e.rev IN (SELECT id FROM versions WHERE file_id = v.file_id)
            WHERE e.path = $1 ORDER BY v.number""",
        path,
    )
    return [r["number"] for r in rows]


async def saved_at(pool, path: str, times: list[str]) -> None:
    """Give the versions of the file at ``path`` these save times, oldest first."""
    await pool.execute(
        """UPDATE versions v SET created_at = t.at
             FROM unnest($2::timestamptz[]) WITH ORDINALITY AS t(at, n)
            WHERE v.number = t.n
              AND v.file_id = (SELECT file_id FROM versions WHERE id = (SELECT rev FROM entries WHERE path = $1))""",
        path,
        [at(t) for t in times],
    )


TIMELINE = [
    "2026-02-01 09:00",  # 1: replaced 2026-02-20, more than 30 days ago: pruned
    "2026-02-20 10:00",  # 2: replaced the same day: pruned
    "2026-02-20 15:00",  # 3: the last of 2026-02-20, replaced 26 days ago: kept
    "2026-03-05 08:00",  # 4: replaced the same day: pruned
    "2026-03-05 08:30",  # 5: the last of 2026-03-05: kept
    "2026-03-29 23:50",  # 6: the last of 2026-03-29 (replaced 00:10 the next day, 36 hours ago): kept
    "2026-03-30 00:10",  # 7: replaced the same day, 27 hours ago: pruned
    "2026-03-30 09:00",  # 8: replaced 23 hours ago: kept (the last 24 hours keep everything)
    "2026-03-30 13:00",  # 9: replaced an hour ago: kept
    "2026-03-31 11:00",  # 10: current: kept
]


async def test_versions_are_thinned_exactly_as_documented(api, pool):
    for i in range(len(TIMELINE)):
        await upload(api, pool, "/report.txt", f"version {i + 1} of the report".encode())
    await saved_at(pool, "/report.txt", TIMELINE)
    ns = await ns_of(pool)
    before = await counters_match(pool, ns)

    dry = await prune(pool, now=NOW, dry_run=True)
    assert dry is not None and (dry.versions_pruned, dry.items_purged) == (4, 0)
    assert await versions_of(pool, "/report.txt") == list(range(1, 11))

    report = await prune(pool, now=NOW)
    assert report is not None and report.namespaces == 1 and report.versions_pruned == 4
    assert await versions_of(pool, "/report.txt") == [3, 5, 6, 8, 9, 10]
    after = await counters_match(pool, ns)
    assert after.current_bytes == before.current_bytes
    assert after.version_bytes == before.version_bytes - report.version_bytes
    assert after.stored_bytes == before.stored_bytes - report.bytes_freed > 0

    again = await prune(pool, now=NOW)  # the rule is stable: nothing more goes
    assert again.versions_pruned == 0 and await versions_of(pool, "/report.txt") == [3, 5, 6, 8, 9, 10]
    # a day later version 8 is no longer recent, and not the last of its day; 9 is
    later = await prune(pool, now=NOW + timedelta(days=1))
    assert later.versions_pruned == 1 and await versions_of(pool, "/report.txt") == [3, 5, 6, 9, 10]
    # history lists what is left, with its numbers; the change feed replays without the pruned ones
    revs = await api.ok("GET", "/v1/files/revisions", path="/report.txt")
    assert [r["version"] for r in revs["revisions"]] == [10, 9, 6, 5, 3]
    from metaserver.changes.cursor import Cursor

    replay = await api.ok("GET", "/v1/changes", cursor=Cursor(ns, 0).encode(), limit=2000)  # the whole journal
    assert [e["rev"] for e in replay["entries"] if e["kind"] == "file"] == [r["rev"] for r in reversed(revs["revisions"])]
    assert not replay["has_more"]


async def test_the_trash_is_emptied_past_retention_and_thinned_before(api, pool):
    await upload(api, pool, "/old.txt", b"deleted long ago")
    await upload(api, pool, "/recent.txt", b"recent 1")
    await upload(api, pool, "/recent.txt", b"recent 2, longer")
    await api.ok("POST", "/v1/files/delete", {"path": "/old.txt"})
    await api.ok("POST", "/v1/files/delete", {"path": "/recent.txt"})
    await pool.execute("UPDATE trash SET deleted_at = $1 WHERE path = '/old.txt'", at("2026-03-01 12:00"))
    await pool.execute("UPDATE trash SET deleted_at = $1 WHERE path = '/recent.txt'", at("2026-03-25 12:00"))
    await pool.execute("UPDATE versions SET created_at = $1 WHERE path = '/recent.txt' AND number = 1", at("2026-03-10 09:00"))
    await pool.execute("UPDATE versions SET created_at = $1 WHERE path = '/recent.txt' AND number = 2", at("2026-03-10 10:00"))
    ns = await ns_of(pool)

    report = await prune(pool, now=NOW)
    assert (report.items_purged, report.files_purged, report.versions_pruned) == (1, 1, 1)
    assert report.bytes_freed == len(b"deleted long ago") + len(b"recent 1")
    assert [e["path"] for e in await trash_of(api)] == ["/recent.txt"]  # deleted 6 days ago: kept
    revs = await api.ok("GET", "/v1/files/revisions", path="/recent.txt")
    assert revs["deleted"] and [r["version"] for r in revs["revisions"]] == [2]  # its last version stays
    assert await counters_match(pool, ns) == usage.Usage(0, 0, 16, 16)
    # exactly 30 days after its deletion it goes
    report = await prune(pool, now=at("2026-04-24 12:00"))
    assert report.items_purged == 1 and await trash_of(api) == []
    assert await counters_match(pool, ns) == usage.Usage(0, 0, 0, 0)


async def test_each_user_has_their_own_retention(api, meta, pool):
    from metaserver.core.users import create_user, set_retention

    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-long")
        await set_retention(conn, "Bob", 7)
    bob = (await meta.ok("POST", "/v1/auth/login", {"user": "bob", "password": "pw-bob-long"}))["token"]
    for token in (api.token, bob):
        for text in (b"one", b"two"):
            body = {"path": "/f.txt", "size": len(text), "blocks": blocks_of(text)}
            status, up = await meta.call("POST", "/v1/uploads", body, token=token)
            assert status == 200, up
            await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
            status, _ = await meta.call("POST", f"/v1/uploads/{up['upload_id']}/commit", {}, token=token)
            assert status == 200
    # version 1 of each replaced ten days ago
    await pool.execute("UPDATE versions SET created_at = $1 WHERE number = 1", NOW - timedelta(days=11))
    await pool.execute("UPDATE versions SET created_at = $1 WHERE number = 2", NOW - timedelta(days=10))
    report = await prune(pool, now=NOW)
    assert report.namespaces == 2 and report.versions_pruned == 1
    owners = await pool.fetch(
        "SELECT u.name, count(*) AS n FROM versions v JOIN namespaces s ON s.id = v.ns_id JOIN users u ON u.id = s.owner_id GROUP BY u.name ORDER BY u.name"
    )
    assert [(r["name"], r["n"]) for r in owners] == [("alice", 2), ("bob", 1)]
    with pytest.raises(Exception, match="no user"):
        async with pool.acquire() as conn:
            await set_retention(conn, "nobody", 3)


async def test_one_run_at_a_time(api, pool, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", PRUNE_LOCK_ID)
        assert await prune(pool, now=NOW) is None
    finally:
        await conn.close()
    assert await prune(pool, now=NOW) is not None
