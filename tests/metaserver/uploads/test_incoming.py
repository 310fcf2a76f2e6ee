"""Pending uploads offered to the other devices (GET /v1/uploads/incoming[/{id}])."""

from protocol.hashing import BLOCK_SIZE
from tests.metaserver.conftest import blocks_of, mark_stored

BIG = b"a" * BLOCK_SIZE + b"b" * BLOCK_SIZE + b"c" * 10


async def second_device(api, user: str = "alice", password: str = "pw-alice", device: str = "desktop") -> str:
    answer = await api.ok("POST", "/v1/auth/login", {"user": user, "password": password, "device": device})
    return answer["token"]


async def start_upload(api, path: str = "/big.bin", data: bytes = BIG) -> dict:
    return await api.ok("POST", "/v1/uploads", {"path": path, "size": len(data), "blocks": blocks_of(data)})


async def test_other_device_sees_pending_upload_and_grants_for_stored_blocks(api, pool):
    other = await second_device(api)
    up = await start_upload(api)
    status, listed = await api.call("GET", "/v1/uploads/incoming", token=other)
    assert status == 200
    [item] = listed["uploads"]
    assert item["upload_id"] == up["upload_id"] and item["path"] == "/big.bin"
    assert (item["size"], item["block_count"], item["stored"], item["device"]) == (len(BIG), 3, 0, "laptop")
    assert item["content_hash"] == up["content_hash"]

    await mark_stored(pool, [up["blocks"][1]["block_id"]])
    status, page = await api.call("GET", f"/v1/uploads/incoming/{up['upload_id']}", token=other)
    assert status == 200
    assert (page["total"], page["start"], page["size"]) == (3, 0, len(BIG))
    assert page["block_servers"] == ["http://127.0.0.1:9"]
    want = blocks_of(BIG)
    for b, w in zip(page["blocks"], want, strict=True):
        assert (b["size"], b["sha256"], b["md5"]) == (w["size"], w["sha256"], w["md5"])
    assert [b["stored"] for b in page["blocks"]] == [False, True, False]
    assert [("grant" in b) for b in page["blocks"]] == [False, True, False]
    status, listed = await api.call("GET", "/v1/uploads/incoming", token=other)
    assert listed["uploads"][0]["stored"] == 1

    status, page = await api.call(
        "GET", f"/v1/uploads/incoming/{up['upload_id']}", token=other, start=2, limit=5
    )
    assert [b["index"] for b in page["blocks"]] == [2] and page["start"] == 2


async def test_a_get_grant_is_the_one_file_blocks_issues(api, pool, server_config):
    """The grant of a pending block reads that block, like a committed version's grant."""
    import time

    from protocol import grants

    other = await second_device(api)
    up = await start_upload(api)
    await mark_stored(pool, [up["blocks"][0]["block_id"]])
    _, page = await api.call("GET", f"/v1/uploads/incoming/{up['upload_id']}", token=other)
    g = grants.verify(page["blocks"][0]["grant"], server_config.grant_secret, now=time.time())
    assert g.op == grants.GET and g.block_id == up["blocks"][0]["block_id"] and g.size == BLOCK_SIZE


async def test_own_device_small_committed_and_expired_sessions_are_not_offered(api, pool):
    other = await second_device(api)
    small = await start_upload(api, "/small.bin", b"x" * 100)
    assert (await api.ok("GET", "/v1/uploads/incoming"))["uploads"] == []  # the uploader's own device
    up = await start_upload(api)
    assert (await api.ok("GET", "/v1/uploads/incoming"))["uploads"] == []
    assert [
        u["upload_id"] for u in (await api.call("GET", "/v1/uploads/incoming", token=other))[1]["uploads"]
    ] == [up["upload_id"]]
    assert (await api.call("GET", f"/v1/uploads/incoming/{small['upload_id']}", token=other))[0] == 404
    assert await api.error("GET", f"/v1/uploads/incoming/{up['upload_id']}") == (404, "not_found")

    await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
    await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    status, listed = await api.call("GET", "/v1/uploads/incoming", token=other)
    assert listed["uploads"] == []
    status, answer = await api.call("GET", f"/v1/uploads/incoming/{up['upload_id']}", token=other)
    assert status == 404 and answer["error"]["code"] == "not_found"

    late = await start_upload(api, "/late.bin")
    await pool.execute(
        "UPDATE upload_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", late["upload_id"]
    )
    assert (await api.call("GET", "/v1/uploads/incoming", token=other))[1]["uploads"] == []
    assert (await api.call("GET", f"/v1/uploads/incoming/{late['upload_id']}", token=other))[0] == 404


async def test_other_users_do_not_see_pending_uploads(api, pool):
    from metaserver.core.users import create_user

    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-long")
    bob = await second_device(api, "bob", "pw-bob-long")
    up = await start_upload(api)
    await mark_stored(pool, [up["blocks"][0]["block_id"]])
    assert (await api.call("GET", "/v1/uploads/incoming", token=bob))[1]["uploads"] == []
    status, answer = await api.call("GET", f"/v1/uploads/incoming/{up['upload_id']}", token=bob)
    assert status == 404 and answer["error"]["code"] == "not_found"


async def test_bad_ids_and_parameters(api):
    other = await second_device(api)
    assert (await api.call("GET", "/v1/uploads/incoming/nonsense", token=other))[0] == 404
    up = await start_upload(api)
    status, answer = await api.call("GET", f"/v1/uploads/incoming/{up['upload_id']}", token=other, limit=0)
    assert status == 400 and answer["error"]["code"] == "bad_request"
    assert (await api.call("GET", "/v1/uploads/incoming"))[0] == 200
    assert (await api.call("GET", "/v1/uploads/incoming", token="nope"))[0] == 401


async def test_a_session_bound_to_conflict_is_not_offered(api, pool):
    """An ``update`` session that lost to another commit can never commit: it is abandoned."""
    other = await second_device(api)
    first = await start_upload(api, "/doc.bin")
    await mark_stored(pool, [b["block_id"] for b in first["blocks"]])
    meta = await api.ok("POST", f"/v1/uploads/{first['upload_id']}/commit", {})
    data = BIG[::-1]
    body = {
        "path": "/doc.bin",
        "size": len(data),
        "blocks": blocks_of(data),
        "mode": "update",
        "parent_rev": meta["rev"],
    }
    mine = await api.ok("POST", "/v1/uploads", body)
    theirs = await api.ok("POST", "/v1/uploads", {**body, "blocks": blocks_of(BIG[:-1] + b"z")})
    offered = [
        u["upload_id"] for u in (await api.call("GET", "/v1/uploads/incoming", token=other))[1]["uploads"]
    ]
    assert offered == [mine["upload_id"], theirs["upload_id"]]
    await mark_stored(pool, [b["block_id"] for b in theirs["blocks"] if b["state"] == "needed"])
    await api.ok("POST", f"/v1/uploads/{theirs['upload_id']}/commit", {})
    assert (await api.call("GET", "/v1/uploads/incoming", token=other))[1]["uploads"] == []
    assert (await api.call("GET", f"/v1/uploads/incoming/{mine['upload_id']}", token=other))[0] == 404
