"""Upload sessions opened with part of their block list, the rest listed in parts (POST /v1/uploads/{id}/blocks)."""

import pytest

from protocol.hashing import BLOCK_SIZE, content_hash
from tests.metaserver.conftest import blocks_of, mark_stored
from tests.metaserver.uploads.test_incoming import second_device

DATA = b"".join(bytes([i]) * BLOCK_SIZE for i in range(5)) + b"tail"  # 6 blocks, all different


async def open_session(api, path: str, data: bytes, first: int) -> dict:
    return await api.ok(
        "POST",
        "/v1/uploads",
        {"path": path, "size": len(data), "blocks": blocks_of(data)[:first], "blocks_complete": False},
    )


async def part(api, upload_id: str, start: int, blocks: list[dict], **extra) -> dict:
    return await api.ok("POST", f"/v1/uploads/{upload_id}/blocks", {"start": start, "blocks": blocks, **extra})


async def test_a_list_given_in_parts_commits_as_one(api, pool):
    blocks = blocks_of(DATA)
    up = await open_session(api, "/big", DATA, 2)
    assert (up["blocks_listed"], up["blocks_complete"], up["content_hash"]) == (2, False, None)
    assert [b["index"] for b in up["blocks"]] == [0, 1] and up["needed"] == 2
    uid = up["upload_id"]
    # the first blocks may be stored before the list is complete, but the commit waits for it
    await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
    status, answer = await api.call("POST", f"/v1/uploads/{uid}/commit", {})
    assert status == 400 and "not complete" in answer["error"]["message"]
    second = await part(api, uid, 2, blocks[2:4])
    assert [b["index"] for b in second["blocks"]] == [2, 3] and all(b["grant"] for b in second["blocks"])
    assert (second["blocks_listed"], second["blocks_complete"]) == (4, False)
    last = await part(api, uid, 4, blocks[4:], content_hash=content_hash(b["sha256"] for b in blocks))
    assert (last["blocks_listed"], last["blocks_complete"]) == (6, True)
    assert last["content_hash"] == content_hash(b["sha256"] for b in blocks)
    await mark_stored(pool, [b["block_id"] for b in second["blocks"] + last["blocks"]])
    meta = await api.ok("POST", f"/v1/uploads/{uid}/commit", {})
    assert meta["size"] == len(DATA) and meta["content_hash"] == last["content_hash"]
    page = await api.ok("GET", "/v1/files/blocks", path="/big")
    assert [b["sha256"] for b in page["blocks"]] == [b["sha256"] for b in blocks]


async def test_a_part_sent_again_is_answered_again_and_adds_only_what_is_new(api, pool):
    blocks = blocks_of(DATA)
    up = await open_session(api, "/again", DATA, 2)
    uid = up["upload_id"]
    first = await part(api, uid, 2, blocks[2:4])
    again = await part(api, uid, 2, blocks[2:5])  # the lost answer's part, and one block more
    assert [b["block_id"] for b in again["blocks"][:2]] == [b["block_id"] for b in first["blocks"]]
    assert again["blocks_listed"] == 5
    assert await pool.fetchval("SELECT count(*) FROM session_blocks WHERE session_id = $1", uid) == 5


async def test_parts_out_of_order_or_of_other_blocks_are_refused(api, pool):
    blocks = blocks_of(DATA)
    uid = (await open_session(api, "/order", DATA, 2))["upload_id"]
    cases = [
        ({"start": 3, "blocks": blocks[3:4]}, "in order"),  # a gap
        ({"start": 1, "blocks": blocks[2:3]}, "not the one listed"),  # another block at a listed index
        ({"start": 2, "blocks": blocks[2:3] + [blocks[5]]}, "does not match"),  # the short block too early
        ({"start": 2, "blocks": blocks[2:] + blocks[2:3]}, "does not match"),  # past the end
        ({"start": 2, "blocks": []}, "1.."),
        ({"start": -1, "blocks": blocks[2:3]}, "start"),
        ({"start": 2, "blocks": blocks[2:], "content_hash": "0" * 64}, "content_hash does not match"),
        ({"start": 2, "blocks": blocks[2:3], "content_hash": "0" * 64}, "completes the block list"),
    ]
    for body, message in cases:
        status, answer = await api.call("POST", f"/v1/uploads/{uid}/blocks", body)
        assert status == 400 and message in answer["error"]["message"], (body, answer)
    assert await pool.fetchval("SELECT count(*) FROM session_blocks WHERE session_id = $1", uid) == 2
    assert await pool.fetchval("SELECT content_hash FROM upload_sessions WHERE id = $1", uid) is None


async def test_blocks_are_deduplicated_against_stored_ones_and_the_sessions_own(api, pool):
    same = b"\1" * BLOCK_SIZE
    data = same * 3 + b"end"
    blocks = blocks_of(data)
    up = await open_session(api, "/dup", data, 1)
    later = await part(api, up["upload_id"], 1, blocks[1:])
    ids = {b["block_id"] for b in up["blocks"] + later["blocks"][:2]}
    assert len(ids) == 1  # the same block in two parts: one id, one upload
    # a block stored by an earlier upload is not needed again
    done = blocks_of(b"\2" * BLOCK_SIZE)
    first = await api.ok("POST", "/v1/uploads", {"path": "/stored", "size": BLOCK_SIZE, "blocks": done})
    await mark_stored(pool, [first["blocks"][0]["block_id"]])
    data2 = b"\3" * BLOCK_SIZE + b"\2" * BLOCK_SIZE
    up2 = await open_session(api, "/reuse", data2, 1)
    rest = await part(api, up2["upload_id"], 1, blocks_of(data2)[1:])
    assert rest["blocks"][0]["state"] == "stored" and rest["needed"] == 0


async def test_an_open_session_is_not_offered_to_other_devices_until_complete(api, pool):
    other = await second_device(api)
    blocks = blocks_of(DATA)
    uid = (await open_session(api, "/offer", DATA, 2))["upload_id"]
    status = await api.ok("GET", f"/v1/uploads/{uid}")
    assert (status["blocks_listed"], status["blocks_complete"], len(status["blocks"])) == (2, False, 2)
    assert (await api.ok("GET", "/v1/uploads/incoming", token=other))["uploads"] == []
    await part(api, uid, 2, blocks[2:])
    [offered] = (await api.ok("GET", "/v1/uploads/incoming", token=other))["uploads"]
    assert offered["upload_id"] == uid and offered["content_hash"] == content_hash(b["sha256"] for b in blocks)


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"blocks_complete": "no"}, "blocks_complete"),
        ({"blocks_complete": False, "content_hash": "0" * 64}, "content_hash"),
    ],
)
async def test_malformed_open_sessions(api, extra, message):
    body = {"path": "/m", "size": len(DATA), "blocks": blocks_of(DATA)[:1], **extra}
    status, answer = await api.call("POST", "/v1/uploads", body)
    assert status == 400 and message in answer["error"]["message"]


async def test_a_batch_takes_only_whole_lists(api, pool):
    answer = await api.ok("POST", "/v1/uploads/batch", {"files": [
        {"path": "/b1", "size": len(DATA), "blocks": blocks_of(DATA)[:1], "blocks_complete": False},
        {"path": "/b2", "size": 3, "blocks": blocks_of(b"abc")},
    ]})  # fmt: skip
    assert answer["uploads"][0]["error"]["code"] == "bad_request" and "upload_id" in answer["uploads"][1]


async def test_quota_is_checked_for_each_part(api, pool):
    await pool.execute("UPDATE users SET quota_bytes = $1", 3 * BLOCK_SIZE)
    blocks = blocks_of(DATA)
    uid = (await open_session(api, "/quota", DATA, 2))["upload_id"]
    status, answer = await api.call("POST", f"/v1/uploads/{uid}/blocks", {"start": 2, "blocks": blocks[2:]})
    assert status == 507 and answer["error"]["code"] == "quota_exceeded"
    assert await pool.fetchval("SELECT count(*) FROM session_blocks WHERE session_id = $1", uid) == 2
