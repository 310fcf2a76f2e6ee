"""Upload sessions: create, dedup, status, commit, conflicts, quota, bad input."""

import pytest

from protocol.hashing import BLOCK_SIZE, content_hash
from tests.metaserver.conftest import blocks_of, mark_stored


async def upload(api, pool, path: str, data: bytes, **extra) -> dict:
    up = await api.ok("POST", "/v1/uploads", {"path": path, "size": len(data), "blocks": blocks_of(data), **extra})
    await mark_stored(pool, [b["block_id"] for b in up["blocks"] if b["state"] == "needed"])
    return await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})


async def test_session_issues_unique_ids_and_grants(api):
    data = b"a" * BLOCK_SIZE + b"b" * 10
    up = await api.ok("POST", "/v1/uploads", {"path": "/f", "size": len(data), "blocks": blocks_of(data)})
    assert up["needed"] == 2 and up["block_servers"] == ["http://127.0.0.1:9"]
    ids = [b["block_id"] for b in up["blocks"]]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)
    assert all(b["state"] == "needed" and b["grant"] for b in up["blocks"])
    assert up["content_hash"] == content_hash(b["sha256"] for b in blocks_of(data))


async def test_identical_blocks_in_one_file_share_an_id(api):
    data = b"\0" * (3 * BLOCK_SIZE)
    up = await api.ok("POST", "/v1/uploads", {"path": "/zeros", "size": len(data), "blocks": blocks_of(data)})
    assert up["needed"] == 1
    assert len({b["block_id"] for b in up["blocks"]}) == 1
    assert sum(1 for b in up["blocks"] if "grant" in b) == 1


async def test_dedup_reuses_stored_blocks(api, pool):
    data = b"x" * (BLOCK_SIZE + 5)
    await upload(api, pool, "/one", data)
    before = await pool.fetchval("SELECT count(*) FROM blocks")
    up = await api.ok("POST", "/v1/uploads", {"path": "/two", "size": len(data), "blocks": blocks_of(data)})
    assert up["needed"] == 0 and all(b["state"] == "stored" for b in up["blocks"])
    assert await pool.fetchval("SELECT count(*) FROM blocks") == before
    meta = await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    assert meta["path"] == "/two"


async def test_dedup_is_per_user(api, meta, pool):
    from metaserver.core.users import create_user

    data = b"shared secret content"
    await upload(api, pool, "/mine", data)
    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-long")
    bob = await meta.ok("POST", "/v1/auth/login", {"user": "bob", "password": "pw-bob-long"})
    status, up = await meta.call(
        "POST", "/v1/uploads", {"path": "/b", "size": len(data), "blocks": blocks_of(data)}, token=bob["token"]
    )
    assert status == 200 and up["needed"] == 1


async def test_empty_file(api, pool):
    meta = await upload(api, pool, "/empty", b"")
    assert meta["size"] == 0 and meta["content_hash"] == content_hash([])


async def test_commit_with_block_never_uploaded(api, pool):
    data = b"q" * (BLOCK_SIZE + 1)
    up = await api.ok("POST", "/v1/uploads", {"path": "/q", "size": len(data), "blocks": blocks_of(data)})
    await mark_stored(pool, [up["blocks"][0]["block_id"]])
    status, answer = await api.call("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    assert status == 409 and answer["error"]["code"] == "blocks_missing"
    assert answer["error"]["details"]["missing"] == [1]
    status, _ = await api.call("GET", "/v1/files/meta", path="/q")
    assert status == 404
    status_now = await api.ok("GET", f"/v1/uploads/{up['upload_id']}")
    assert [b["state"] for b in status_now["blocks"]] == ["stored", "needed"] and status_now["needed"] == 1


async def test_commit_is_idempotent(api, pool):
    data = b"retry me"
    up = await api.ok("POST", "/v1/uploads", {"path": "/r", "size": len(data), "blocks": blocks_of(data)})
    await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
    first = await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    again = await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    assert first == again
    assert await pool.fetchval("SELECT count(*) FROM versions") == 1
    status, code = await api.error("GET", f"/v1/uploads/{up['upload_id']}")
    assert (status, code) == (410, "upload_expired")


async def test_expired_session(api, pool):
    data = b"late"
    up = await api.ok("POST", "/v1/uploads", {"path": "/late", "size": len(data), "blocks": blocks_of(data)})
    await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
    await pool.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 second'")
    status, code = await api.error("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    assert (status, code) == (410, "upload_expired")


async def test_overwrite_makes_new_version_and_same_content_does_not(api, pool):
    v1 = await upload(api, pool, "/doc.txt", b"one")
    v2 = await upload(api, pool, "/doc.txt", b"two")
    assert v2["rev"] != v1["rev"]
    v3 = await upload(api, pool, "/doc.txt", b"two")
    assert v3["rev"] == v2["rev"]
    assert await pool.fetchval("SELECT parent_rev FROM versions WHERE id = $1", v2["rev"]) == v1["rev"]


async def test_update_mode_conflicts_on_stale_parent(api, pool):
    v1 = await upload(api, pool, "/c.txt", b"base")
    data = b"edit from device A"
    up_a = await api.ok(
        "POST", "/v1/uploads",
        {"path": "/c.txt", "size": len(data), "blocks": blocks_of(data), "mode": "update", "parent_rev": v1["rev"]},
    )
    await upload(api, pool, "/c.txt", b"edit from device B")  # lands first
    await mark_stored(pool, [b["block_id"] for b in up_a["blocks"]])
    status, answer = await api.call("POST", f"/v1/uploads/{up_a['upload_id']}/commit", {})
    assert status == 409 and answer["error"]["code"] == "conflict"
    # and a new session against the stale parent is refused before any block moves
    status, code = await api.error(
        "POST", "/v1/uploads",
        {"path": "/c.txt", "size": len(data), "blocks": blocks_of(data), "mode": "update", "parent_rev": v1["rev"]},
    )
    assert (status, code) == (409, "conflict")


async def test_add_mode(api, pool):
    await upload(api, pool, "/add.txt", b"first", mode="add")
    status, code = await api.error(
        "POST", "/v1/uploads", {"path": "/add.txt", "size": 3, "blocks": blocks_of(b"new"), "mode": "add"}
    )
    assert (status, code) == (409, "conflict")
    same = await upload(api, pool, "/add.txt", b"first", mode="add")
    assert same["size"] == 5


async def test_upload_creates_parents_and_keeps_their_case(api, pool):
    await api.ok("POST", "/v1/files/mkdir", {"path": "/Photos"})
    meta = await upload(api, pool, "/photos/2024/Cat.JPG", b"meow")
    assert meta["path"] == "/Photos/2024/Cat.JPG"
    folder = await api.ok("GET", "/v1/files/meta", path="/PHOTOS/2024")
    assert folder == {"kind": "folder", "path": "/Photos/2024", "name": "2024"}


async def test_upload_onto_folder_or_under_file(api, pool):
    await api.ok("POST", "/v1/files/mkdir", {"path": "/dir"})
    status, code = await api.error("POST", "/v1/uploads", {"path": "/dir", "size": 1, "blocks": blocks_of(b"x")})
    assert (status, code) == (409, "is_a_folder")
    await upload(api, pool, "/file", b"x")
    status, code = await api.error("POST", "/v1/uploads", {"path": "/file/sub", "size": 1, "blocks": blocks_of(b"x")})
    assert (status, code) == (409, "not_a_folder")


@pytest.mark.parametrize(
    "path",
    ["relative", "/a/../b", "/a/./b", "/a//b", "/a/", "/nul\x00byte", "/ctl\x07", "/" + "x" * 256, "/a" * 2100, "/"],
)
async def test_bad_paths_are_refused_and_nothing_is_recorded(api, pool, path):
    status, answer = await api.call("POST", "/v1/uploads", {"path": path, "size": 1, "blocks": blocks_of(b"x")})
    # a NUL is refused with the whole body (no string of any body may hold one): bad_request
    assert status in (400, 409) and answer["error"]["code"] in ("bad_path", "is_a_folder", "bad_request")
    assert answer["error"]["code"] != "bad_request" or "\x00" in path
    assert await pool.fetchval("SELECT count(*) FROM upload_sessions") == 0
    assert await pool.fetchval("SELECT count(*) FROM blocks") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/x", "size": 5, "blocks": []},  # block list does not cover the size
        {"path": "/x", "size": -1, "blocks": []},
        {"path": "/x", "size": "5", "blocks": []},
        {"path": "/x", "size": 1, "blocks": [{"size": 1, "md5": "zz", "sha256": "00"}]},
        {"path": "/x", "size": 1, "blocks": "nope"},
        {"path": "/x", "size": 1, "blocks": blocks_of(b"x"), "content_hash": "0" * 64},
        {"path": "/x", "size": 1, "blocks": blocks_of(b"x"), "mode": "sideways"},
        {"path": "/x", "size": 1, "blocks": blocks_of(b"x"), "mode": "update"},
        {"size": 1, "blocks": blocks_of(b"x")},
    ],
)
async def test_malformed_upload_requests(api, pool, body):
    status, answer = await api.call("POST", "/v1/uploads", body)
    assert status == 400 and answer["error"]["code"] in ("bad_request", "bad_path")
    assert await pool.fetchval("SELECT count(*) FROM upload_sessions") == 0


async def test_other_users_session_is_not_found(api, meta, pool):
    from metaserver.core.users import create_user

    up = await api.ok("POST", "/v1/uploads", {"path": "/s", "size": 1, "blocks": blocks_of(b"s")})
    async with pool.acquire() as conn:
        await create_user(conn, "mallory", "pw-mallory")
    m = await meta.ok("POST", "/v1/auth/login", {"user": "mallory", "password": "pw-mallory"})
    for method, suffix in (("GET", ""), ("POST", "/commit")):
        status, answer = await meta.call(method, f"/v1/uploads/{up['upload_id']}{suffix}", {} if method == "POST" else None, token=m["token"])
        assert status == 404 and answer["error"]["code"] == "not_found"
    status, answer = await api.call("GET", "/v1/uploads/not-a-uuid")
    assert status == 404


async def test_quota_refuses_before_any_block_is_sent(api, pool):
    await pool.execute("UPDATE users SET quota_bytes = $1 WHERE name = 'alice'", BLOCK_SIZE)
    await upload(api, pool, "/fits", b"y" * (BLOCK_SIZE - 10))
    data = b"z" * 100
    status, answer = await api.call("POST", "/v1/uploads", {"path": "/over", "size": len(data), "blocks": blocks_of(data)})
    assert status == 507 and answer["error"]["code"] == "quota_exceeded"
    # re-using stored blocks costs nothing, so it still fits
    await upload(api, pool, "/copy", b"y" * (BLOCK_SIZE - 10))


async def test_file_blocks_paged_with_grants(api, pool):
    data = bytes(range(256)) * (BLOCK_SIZE // 256) * 3 + b"tail"
    meta = await upload(api, pool, "/big", data)
    page = await api.ok("GET", "/v1/files/blocks", path="/big", start=1, limit=2)
    assert page["total"] == 4 and page["rev"] == meta["rev"] and page["start"] == 1
    assert [b["index"] for b in page["blocks"]] == [1, 2]
    assert all(b["grant"] for b in page["blocks"])
    want = blocks_of(data)
    assert [b["sha256"] for b in page["blocks"]] == [w["sha256"] for w in want[1:3]]
    status, code = await api.error("GET", "/v1/files/blocks", path="/big", rev=meta["rev"] + 1000)
    assert (status, code) == (404, "not_found")
