"""POST /v1/blocks/get_batch: many small blocks in one framed answer."""

from __future__ import annotations

import io
import struct

from protocol import blockbatch, codec, grants
from tests.blockserver.conftest import random_bytes


def parse_answer(body: bytes) -> list[tuple[dict, bytes]]:
    """(header, data) per frame of a batch GET answer."""
    out, pos = [], 0
    while pos < len(body):
        (n,) = struct.unpack(">I", body[pos : pos + 4])
        header = codec.unpack(body[pos + 4 : pos + 4 + n])
        pos += 4 + n
        size = header.get("size", 0) if "error" not in header else 0
        out.append((header, body[pos : pos + size]))
        pos += size
    return out


async def get_batch(server, blocks: list[dict], **headers):
    h = {**server.headers(), "Content-Type": codec.MSGPACK, **headers}
    return await server.request(
        "POST", "/v1/blocks/get_batch", data=codec.pack({"blocks": blocks}), headers=h
    )


async def test_batch_get_answers_every_block_in_order(block_server):
    datas = [random_bytes(n) for n in (1, 4096, 70_000, 300_000, 10)]  # 300 KB is streamed alone
    wanted = []
    for data in datas:
        bid = await block_server.upload(data)
        wanted.append({"block_id": bid, "grant": block_server.grant(grants.GET, bid, _size(data))})
    r = await get_batch(block_server, wanted)
    assert r.status == 200, r.body
    assert r.headers["Content-Type"].startswith(blockbatch.CONTENT_TYPE)
    frames = parse_answer(r.body)
    assert [h["block_id"] for h, _ in frames] == [w["block_id"] for w in wanted]
    assert [d for _, d in frames] == datas


async def test_a_bad_grant_or_a_missing_block_fails_alone(block_server):
    good = random_bytes(100)
    bid = await block_server.upload(good)
    absent, _ = await block_server.new_block(random_bytes(50))  # row, never stored
    other_user, _ = await block_server.add_user("bob")
    wanted = [
        {"block_id": bid, "grant": block_server.grant(grants.GET, bid, _size(good), secret=b"forged")},
        {"block_id": bid, "grant": block_server.grant(grants.GET, bid, _size(good), user_id=other_user)},
        {"block_id": bid, "grant": block_server.grant(grants.GET, bid, _size(good), ttl=-10)},
        {"block_id": bid, "grant": block_server.grant(grants.PUT, bid, _size(good))},
        {"block_id": absent, "grant": block_server.grant(grants.GET, absent, _size(b"x" * 50))},
        {"block_id": bid, "grant": block_server.grant(grants.GET, bid, _size(good))},
    ]
    r = await get_batch(block_server, wanted)
    assert r.status == 200, r.body
    frames = parse_answer(r.body)
    codes = [h.get("error", {}).get("code") for h, _ in frames]
    assert codes == ["forbidden", "forbidden", "grant_expired", "forbidden", "not_found", None]
    assert frames[-1][1] == good


async def test_request_limits(block_server):
    bid = await block_server.upload(b"x")
    one = {"block_id": bid, "grant": block_server.grant(grants.GET, bid, _size(b"x"))}
    for blocks in ([], [one] * (blockbatch.MAX_FRAMES + 1)):
        r = await get_batch(block_server, blocks)
        assert (r.status, r.code) == (400, "bad_request")
    # the sizes the grants name may add up to at most MAX_BODY
    big = {"block_id": bid, "grant": block_server.grant(grants.GET, bid, _size(b"x" * (4 << 20)))}
    r = await get_batch(block_server, [big] * 17)
    assert (r.status, r.code) == (400, "bad_request")
    r = await get_batch(block_server, [one], **{"Content-Type": "text/plain"})
    assert (r.status, r.code) == (415, "unsupported_media_type")
    r = await block_server.request(
        "POST",
        "/v1/blocks/get_batch",
        data=codec.pack({"blocks": [one]}),
        headers={"Content-Type": codec.MSGPACK},
    )
    assert (r.status, r.code) == (401, "unauthorized")
    too_big = codec.pack({"blocks": [one], "pad": "x" * blockbatch.MAX_GET_REQUEST})
    r = await block_server.request(
        "POST",
        "/v1/blocks/get_batch",
        data=io.BytesIO(too_big),
        headers={**block_server.headers(), "Content-Type": codec.MSGPACK},
    )
    assert (r.status, r.code) == (413, "body_too_large")


def _size(data: bytes):
    from protocol.hashing import hash_block

    return hash_block(data)
