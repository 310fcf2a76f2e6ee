"""POST /v1/blocks/batch: many small blocks in one streamed request."""

from __future__ import annotations

import io

from protocol import blockbatch, grants
from tests.blockserver.conftest import random_bytes, read_all


def batch_body(frames: list[tuple[str, str, bytes]]) -> bytes:
    return b"".join(blockbatch.frame_header(bid, g) + data for bid, g, data in frames)


async def post_batch(server, body: bytes, **headers):
    h = {**server.headers(), "Content-Type": blockbatch.CONTENT_TYPE, **headers}
    return await server.request("POST", "/v1/blocks/batch", data=io.BytesIO(body), headers=h)


async def test_batch_stores_every_block(block_server):
    blocks = [random_bytes(n) for n in (1, 4096, 70_000, 300_000)]
    frames = []
    for data in blocks:
        bid, h = await block_server.new_block(data)
        frames.append((bid, block_server.grant(grants.PUT, bid, h), data))
    r = await post_batch(block_server, batch_body(frames))
    assert r.status == 200, r.body
    assert [x["state"] for x in r.decoded()["results"]] == ["stored"] * 4
    for bid, _, data in frames:
        assert await read_all(block_server.store, bid) == data
        assert await block_server.state_of(bid) == "stored"


async def test_a_bad_block_fails_alone(block_server):
    good, bad, after = random_bytes(100), random_bytes(200), random_bytes(300)
    frames = []
    for data in (good, bad, after):
        bid, h = await block_server.new_block(data)
        frames.append((bid, block_server.grant(grants.PUT, bid, h), data))
    corrupted = bytes([bad[0] ^ 1]) + bad[1:]
    frames[1] = (frames[1][0], frames[1][1], corrupted)
    r = await post_batch(block_server, batch_body(frames))
    assert r.status == 200, r.body
    results = r.decoded()["results"]
    assert results[0]["state"] == "stored" and results[2]["state"] == "stored"
    assert results[1]["error"]["code"] == "hash_mismatch"
    await block_server.assert_not_stored(frames[1][0])
    assert await read_all(block_server.store, frames[2][0]) == after


async def test_forged_grant_or_truncated_body_fails_the_batch(block_server):
    data = random_bytes(500)
    bid, h = await block_server.new_block(data)
    forged = block_server.grant(grants.PUT, bid, h, secret=b"not the secret")
    r = await post_batch(block_server, batch_body([(bid, forged, data)]))
    assert r.status == 400 and r.code == "bad_request"
    await block_server.assert_not_stored(bid)
    good = block_server.grant(grants.PUT, bid, h)
    r = await post_batch(block_server, batch_body([(bid, good, data)])[:-10])
    assert r.status == 400 and r.code == "bad_request"
    await block_server.assert_not_stored(bid)
    other_user, _ = await block_server.add_user("bob")
    theirs = block_server.grant(grants.PUT, bid, h, user_id=other_user)
    r = await post_batch(block_server, batch_body([(bid, theirs, data)]))
    assert r.status == 400 and "another user" in r.decoded()["error"]["message"]


async def test_wrong_content_type_and_missing_token(block_server):
    r = await post_batch(block_server, b"", **{"Content-Type": "application/octet-stream"})
    assert r.status == 400
    r = await block_server.request(
        "POST", "/v1/blocks/batch", data=b"", headers={"Content-Type": blockbatch.CONTENT_TYPE}
    )
    assert r.status == 401 and r.code == "unauthorized"


async def test_a_group_of_small_blocks_with_a_bad_one(block_server):
    """Small blocks are stored as a group: a corrupted or short one still fails alone, invisible."""
    datas = [random_bytes(4096) for _ in range(40)]
    frames = []
    for data in datas:
        bid, h = await block_server.new_block(data)
        frames.append((bid, block_server.grant(grants.PUT, bid, h), data))
    bad = frames[17]
    frames[17] = (bad[0], bad[1], bytes([bad[2][0] ^ 1]) + bad[2][1:])
    r = await post_batch(block_server, batch_body(frames))
    assert r.status == 200, r.body
    results = r.decoded()["results"]
    assert [x.get("state") for x in results] == ["stored"] * 17 + [None] + ["stored"] * 22
    assert results[17]["error"]["code"] == "hash_mismatch"
    await block_server.assert_not_stored(bad[0])
    for i, (bid, _, data) in enumerate(frames):
        if i != 17:
            assert await read_all(block_server.store, bid) == data
            assert await block_server.state_of(bid) == "stored"
