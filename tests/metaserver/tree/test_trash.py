"""The trash (metaserver/tree/trash.py, trash_restore.py, purge.py) through its routes:
listing, restore (also beside a taken path, and of a part of a deleted folder), purge, the
journal rows they write, the usage counters they move, and what bad input and other users get."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metaserver.tree import usage
from tests.metaserver.uploads.test_sessions import upload


async def ns_of(pool, name: str = "alice") -> int:
    return await pool.fetchval(
        "SELECT n.id FROM namespaces n JOIN users u ON u.id = n.owner_id WHERE u.name = $1", name
    )


async def counters_match(pool, ns_id: int) -> usage.Usage:
    """The namespace's counters, checked against a recount."""
    async with pool.acquire() as conn:
        kept, counted = await usage.of_namespace(conn, ns_id), await usage.recount(conn, ns_id)
    assert kept == counted
    return kept


async def trash_of(api, path: str = "/", **params) -> list[dict]:
    out, cursor = [], ""
    while True:
        page = await api.ok("GET", "/v1/trash", path=path, cursor=cursor, **params)
        out += page["entries"]
        if not page["has_more"]:
            return out
        cursor = page["cursor"]


async def test_delete_puts_a_folder_in_the_trash_as_one_item(api, pool):
    await upload(api, pool, "/Projects/plan.txt", b"12345")
    await upload(api, pool, "/Projects/src/main.py", b"print(1)\n")
    await api.ok("POST", "/v1/files/mkdir", {"path": "/Projects/empty"})
    await upload(api, pool, "/keep.txt", b"kept")
    ns = await ns_of(pool)
    before = await counters_match(pool, ns)
    cursor = (await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]

    await api.ok("POST", "/v1/files/delete", {"path": "/projects"})
    items = await trash_of(api)
    assert [(e["path"], e["kind"], e["item"], e["files"], e["bytes"]) for e in items] == [
        ("/Projects", "folder", True, 2, 14)
    ]
    assert items[0]["device"] == "laptop" and items[0]["user"] == "alice" and items[0]["deleted"] > 0
    inside = await trash_of(api, "/Projects")  # the item, then what was deleted with it, in it
    assert [(e["path"], e["item"]) for e in inside] == [
        ("/Projects", True), ("/Projects/empty", False), ("/Projects/plan.txt", False), ("/Projects/src", False)
    ]  # fmt: skip
    assert [e.get("size") for e in inside[1:]] == [None, 5, None]
    assert [e["path"] for e in await trash_of(api, "/Projects/src")] == ["/Projects/src/main.py"]
    assert await trash_of(api, "/keep.txt") == []

    # the live tree has no trace of it; every device is told, deepest first, with who did it
    status, code = await api.error("GET", "/v1/files/meta", path="/Projects/plan.txt")
    assert (status, code) == (404, "not_found")
    page = await api.ok("GET", "/v1/changes", cursor=cursor)
    assert [(e["kind"], e["path"]) for e in page["entries"]][-1] == ("deleted", "/Projects")
    rows = await pool.fetch("SELECT user_id, device_name FROM journal WHERE deleted ORDER BY seq")
    assert len(rows) == 5 and {(r["user_id"] is not None, r["device_name"]) for r in rows} == {(True, "laptop")}
    after = await counters_match(pool, ns)
    assert (after.current_bytes, after.trash_bytes) == (before.current_bytes - 14, 14)
    assert after.stored_bytes == before.stored_bytes  # nothing freed until purged


async def test_restore_a_folder_as_it_was_and_a_file_beside_a_new_one(api, pool):
    await upload(api, pool, "/Docs/a.txt", b"a1")
    await upload(api, pool, "/Docs/sub/b.txt", b"b1")
    await upload(api, pool, "/Docs/sub/b.txt", b"b2, its last")
    await api.ok("POST", "/v1/files/mkdir", {"path": "/Docs/sub/empty"})
    await api.ok("POST", "/v1/files/delete", {"path": "/Docs/a.txt"})  # an item of its own, first
    await api.ok("POST", "/v1/files/delete", {"path": "/Docs"})
    ns = await ns_of(pool)

    back = await api.ok("POST", "/v1/trash/restore", {"path": "/docs"})
    assert back == {"kind": "folder", "path": "/Docs", "name": "Docs"}
    listing = await api.ok("GET", "/v1/files/list", path="/Docs")
    assert [e["path"] for e in listing["entries"]] == ["/Docs/sub"]  # a.txt was deleted before: not with it
    listing = await api.ok("GET", "/v1/files/list", path="/Docs/sub")  # as it was: its empty folder too
    assert [(e["path"], e["kind"]) for e in listing["entries"]] == [("/Docs/sub/b.txt", "file"), ("/Docs/sub/empty", "folder")]
    assert (await api.ok("GET", "/v1/files/meta", path="/Docs/sub/b.txt"))["size"] == 12  # at its last revision
    revs = await api.ok("GET", "/v1/files/revisions", path="/Docs/sub/b.txt")
    assert [r["version"] for r in revs["revisions"]] == [2, 1]  # with its history
    assert [e["path"] for e in await trash_of(api)] == ["/Docs/a.txt"]

    # a new a.txt takes the path; the old one comes back beside it, named for its deletion day
    await upload(api, pool, "/Docs/a.txt", b"a2, new")
    old = (await trash_of(api))[0]
    back = await api.ok("POST", "/v1/trash/restore", {"path": "/Docs/a.txt"})
    day = datetime.fromtimestamp(old["deleted"], UTC)
    assert back["path"] == f"/Docs/a (deleted {day:%Y-%m-%d}).txt" and back["size"] == 2
    assert (await api.ok("GET", "/v1/files/meta", path="/Docs/a.txt"))["size"] == 7
    assert await trash_of(api) == []
    await counters_match(pool, ns)
    status, code = await api.error("POST", "/v1/trash/restore", {"path": "/Docs/a.txt"})
    assert (status, code) == (404, "not_found")


async def test_restore_one_file_out_of_a_deleted_folder(api, pool):
    await upload(api, pool, "/P/one.txt", b"1")
    await upload(api, pool, "/P/two.txt", b"22")
    await api.ok("POST", "/v1/files/delete", {"path": "/P"})
    back = await api.ok("POST", "/v1/trash/restore", {"path": "/P/two.txt"})
    assert back["path"] == "/P/two.txt"
    assert [e["path"] for e in (await api.ok("GET", "/v1/files/list", path="/P"))["entries"]] == ["/P/two.txt"]
    item = (await trash_of(api))[0]
    assert (item["path"], item["files"], item["bytes"]) == ("/P", 1, 1)  # what is left in it
    # the folder is live again, so the rest comes back beside it
    back = await api.ok("POST", "/v1/trash/restore", {"path": "/P"})
    assert back["path"].startswith("/P (deleted ") and back["kind"] == "folder"
    assert (await api.ok("GET", "/v1/files/meta", path=back["path"] + "/one.txt"))["size"] == 1
    await counters_match(pool, await ns_of(pool))


async def test_a_folder_comes_back_beside_a_new_one_and_not_under_a_file(api, pool):
    await upload(api, pool, "/v1.2/x.txt", b"x")
    await upload(api, pool, "/A/B/y.txt", b"y")
    await api.ok("POST", "/v1/files/delete", {"path": "/v1.2"})
    await api.ok("POST", "/v1/files/delete", {"path": "/A"})
    await api.ok("POST", "/v1/files/mkdir", {"path": "/V1.2"})
    await upload(api, pool, "/A", b"a file now")
    day = datetime.fromtimestamp((await trash_of(api, "/v1.2"))[0]["deleted"], UTC)

    back = await api.ok("POST", "/v1/trash/restore", {"path": "/v1.2"})  # a folder's name has no extension
    assert back == {"kind": "folder", "path": f"/v1.2 (deleted {day:%Y-%m-%d})", "name": f"v1.2 (deleted {day:%Y-%m-%d})"}
    assert (await api.ok("GET", "/v1/files/meta", path=back["path"] + "/x.txt"))["size"] == 1
    # a part of a deleted folder whose name a file has taken since: a clear error, nothing changes
    status, code = await api.error("POST", "/v1/trash/restore", {"path": "/A/B"})
    assert (status, code) == (409, "not_a_folder")
    assert [e["path"] for e in await trash_of(api, "/A")][:2] == ["/A", "/A/B"]
    back = await api.ok("POST", "/v1/trash/restore", {"path": "/A"})  # the whole item: beside the file
    assert back["path"] == f"/A (deleted {day:%Y-%m-%d})"
    assert (await api.ok("GET", "/v1/files/meta", path=back["path"] + "/B/y.txt"))["size"] == 1
    await counters_match(pool, await ns_of(pool))


async def test_same_path_deleted_twice_is_two_items(api, pool):
    await upload(api, pool, "/x.txt", b"first")
    await api.ok("POST", "/v1/files/delete", {"path": "/x.txt"})
    await upload(api, pool, "/x.txt", b"second!")
    await api.ok("POST", "/v1/files/delete", {"path": "/x.txt"})
    items = await trash_of(api)
    assert [e["size"] for e in items] == [7, 5]  # newest first
    back = await api.ok("POST", "/v1/trash/restore", {"path": "/x.txt", "id": items[1]["id"]})
    assert back["size"] == 5
    status, code = await api.error("POST", "/v1/trash/restore", {"path": "/other.txt", "id": items[0]["id"]})
    assert (status, code) == (404, "not_found")  # an id must be at the path given


async def test_purge_frees_the_stored_bytes_at_once(api, pool):
    shared = b"s" * 1000
    await upload(api, pool, "/a/one.bin", shared)
    await upload(api, pool, "/a/one.bin", b"second version")
    await upload(api, pool, "/b/copy.bin", shared)  # the same block, deduplicated
    await upload(api, pool, "/a/two.bin", b"t" * 300)
    await api.ok("POST", "/v1/files/delete", {"path": "/a"})
    ns = await ns_of(pool)
    before = await counters_match(pool, ns)

    status, code = await api.error("POST", "/v1/trash/purge", {"path": "/nothing"})
    assert (status, code) == (404, "not_found")
    done = await api.ok("POST", "/v1/trash/purge", {"path": "/a"})
    # one.bin's old version still shares its block with /b/copy.bin: only the rest is freed
    assert done == {"files": 2, "freed_bytes": len(b"second version") + 300, "done": True}
    after = await counters_match(pool, ns)
    assert after.stored_bytes == before.stored_bytes - done["freed_bytes"]
    assert (after.trash_bytes, after.version_bytes) == (0, 0)
    assert await trash_of(api) == []
    assert await pool.fetchval("SELECT count(*) FROM versions WHERE path LIKE '/a/%'") == 0

    await upload(api, pool, "/c.txt", b"c")
    await api.ok("POST", "/v1/files/delete", {"path": "/c.txt"})
    await api.ok("POST", "/v1/files/delete", {"path": "/b"})
    assert await api.ok("POST", "/v1/trash/purge", {"all": True}) == {"files": 2, "freed_bytes": 1001, "done": True}
    assert await counters_match(pool, ns) == usage.Usage(0, 0, 0, 0)
    assert await api.ok("POST", "/v1/trash/purge", {"all": True}) == {"files": 0, "freed_bytes": 0, "done": True}


async def test_purge_goes_in_steps(api, pool, monkeypatch):
    from metaserver.tree import purge
    from metaserver.web import trash

    for i in range(7):
        await upload(api, pool, f"/many/{i}.txt", f"file {i}".encode())
    await api.ok("POST", "/v1/files/delete", {"path": "/many"})
    monkeypatch.setattr(purge, "STEP_FILES", 2)
    monkeypatch.setattr(trash, "MAX_STEPS", 2)
    first = await api.ok("POST", "/v1/trash/purge", {"path": "/many"})
    assert first == {"files": 4, "freed_bytes": first["freed_bytes"], "done": False}
    assert (await trash_of(api))[0]["files"] == 3
    second = await api.ok("POST", "/v1/trash/purge", {"path": "/many"})
    assert (second["files"], second["done"]) == (3, False)
    assert await api.ok("POST", "/v1/trash/purge", {"path": "/many"}) == {"files": 0, "freed_bytes": 0, "done": True}
    assert await trash_of(api) == []
    await counters_match(pool, await ns_of(pool))


@pytest.mark.parametrize(
    ("method", "endpoint", "body", "params"),
    [
        ("GET", "/v1/trash", None, {"path": "relative"}),
        ("GET", "/v1/trash", None, {"limit": "0"}),
        ("GET", "/v1/trash", None, {"limit": "1001"}),
        ("GET", "/v1/trash", None, {"cursor": "x.y"}),
        ("GET", "/v1/trash", None, {"cursor": "9" * 6001}),
        ("GET", "/v1/trash", None, {"cursor": "1.2.%%%"}),
        ("POST", "/v1/trash/restore", {}, {}),
        ("POST", "/v1/trash/restore", {"path": "/a", "id": 0}, {}),
        ("POST", "/v1/trash/restore", {"path": "/a", "id": "1"}, {}),
        ("POST", "/v1/trash/restore", ["/a"], {}),
        ("POST", "/v1/trash/purge", {}, {}),
        ("POST", "/v1/trash/purge", {"path": "/"}, {}),
        ("POST", "/v1/trash/purge", {"all": "yes"}, {}),
        ("POST", "/v1/trash/purge", {"all": True, "path": "/a"}, {}),
        ("POST", "/v1/trash/purge", {"path": "/a", "id": True}, {}),
        ("POST", "/v1/files/restore", {"path": "/a"}, {}),
        ("POST", "/v1/files/restore", {"path": "/a", "version": 2**40}, {}),
        ("POST", "/v1/files/restore", {"path": "/a", "rev": 2**63}, {}),
        ("POST", "/v1/trash/restore", {"path": "/a", "id": 2**63}, {}),
    ],
)
async def test_bad_requests_are_400(api, method, endpoint, body, params):
    status, code = await api.error(method, endpoint, body, **params)
    assert status == 400 and code in ("bad_request", "bad_path")


async def test_another_user_sees_and_touches_nothing(api, meta, pool):
    from metaserver.core.users import create_user

    await upload(api, pool, "/secret/plan.txt", b"alice's")
    await api.ok("POST", "/v1/files/delete", {"path": "/secret"})
    item = (await trash_of(api))[0]
    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-long")
    alice = api.token  # api and meta are one client: it speaks as bob, then as nobody, then as alice again
    meta.token = (await meta.ok("POST", "/v1/auth/login", {"user": "bob", "password": "pw-bob-long"}))["token"]
    assert await trash_of(meta) == [] and await trash_of(meta, "/secret") == []
    for body in ({"path": "/secret"}, {"path": "/secret", "id": item["id"]}):
        status, code = await meta.error("POST", "/v1/trash/restore", body)
        assert (status, code) == (404, "not_found")
        status, code = await meta.error("POST", "/v1/trash/purge", body)
        assert (status, code) == (404, "not_found")
    assert await meta.ok("POST", "/v1/trash/purge", {"all": True}) == {"files": 0, "freed_bytes": 0, "done": True}
    status, code = await meta.error("GET", "/v1/files/revisions", path="/secret/plan.txt")
    assert (status, code) == (404, "not_found")
    meta.token = None
    status, code = await meta.error("GET", "/v1/trash")
    assert (status, code) == (401, "unauthorized")
    meta.token = alice
    assert [e["path"] for e in await trash_of(api)] == ["/secret"]  # alice's trash is untouched


async def test_trash_listing_pages_newest_first(api, pool):
    for i in range(5):
        await upload(api, pool, f"/f{i}.txt", b"x")
        await api.ok("POST", "/v1/files/delete", {"path": f"/f{i}.txt"})
    seen, cursor = [], ""
    while True:
        page = await api.ok("GET", "/v1/trash", cursor=cursor, limit=2)
        assert len(page["entries"]) <= 2
        seen += [e["path"] for e in page["entries"]]
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert seen == [f"/f{i}.txt" for i in reversed(range(5))]


async def test_usage_route_and_account(api, pool):
    await upload(api, pool, "/a.txt", b"aaaa")
    await upload(api, pool, "/a.txt", b"bb")
    await upload(api, pool, "/c.txt", b"ccc")
    await api.ok("POST", "/v1/files/delete", {"path": "/c.txt"})
    got = await api.ok("GET", "/v1/usage")
    assert (got["current_bytes"], got["version_bytes"], got["trash_bytes"]) == (2, 4, 3)
    assert got["used_bytes"] == 9 and got["quota_bytes"] is None and got["retention_days"] == 30
    assert [(n["kind"], n["stored_bytes"]) for n in got["namespaces"]] == [("home", 9)]
    account = await api.ok("GET", "/v1/account")
    assert (account["used_bytes"], account["current_bytes"], account["trash_bytes"]) == (9, 2, 3)
    await pool.execute("UPDATE users SET retention_days = 7")
    assert (await api.ok("GET", "/v1/usage"))["retention_days"] == 7


async def test_a_user_with_a_trash_can_be_deleted(api, pool):
    from metaserver.core.users import delete_user

    await upload(api, pool, "/a/b.txt", b"old")
    await upload(api, pool, "/a/b.txt", b"new")
    await api.ok("POST", "/v1/files/delete", {"path": "/a"})
    async with pool.acquire() as conn:
        counts = await delete_user(conn, "alice")
    assert counts["versions"] == 2
    assert await pool.fetchval("SELECT count(*) FROM trash") == 0
    assert await pool.fetchval("SELECT count(*) FROM namespaces") == 0
