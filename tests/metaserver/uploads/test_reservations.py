"""metaserver/uploads/reservations.py: open sessions reserve quota, and their number and pending
blocks are limited per user.

Before: the quota was checked against stored blocks only, so three 8 MiB sessions opened
together all fit a 10 MiB quota (and all committed); and one request could list any number of
new blocks (65,536 random hashes answered 200), with no limit on open sessions either.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import pytest

from protocol.hashing import BLOCK_SIZE
from tests.metaserver.conftest import blocks_of, mark_stored

MIB = 1024 * 1024


@pytest.fixture
def server_config(server_config):
    return replace(server_config, max_open_uploads=4, max_pending_blocks=12)


def session_body(path: str, size: int) -> dict:
    return {"path": path, "size": size, "blocks": blocks_of(os.urandom(size))}


async def test_concurrent_sessions_never_pass_the_quota(api, pool):
    await pool.execute("UPDATE users SET quota_bytes = $1", 10 * MIB)
    bodies = [session_body(f"/f{i}", 8 * MIB) for i in range(3)]
    answers = await asyncio.gather(*(api.call("POST", "/v1/uploads", b) for b in bodies))
    assert sorted(status for status, _ in answers) == [200, 507, 507]
    refused = next(a for s, a in answers if s == 507)["error"]
    assert refused["code"] == "quota_exceeded" and "reserved" in refused["message"]
    up = next(a for s, a in answers if s == 200)
    await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
    await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    status, answer = await api.call("POST", "/v1/uploads", session_body("/g", 4 * MIB))
    assert (status, answer["error"]["code"]) == (507, "quota_exceeded")  # 8 stored + 4 > 10
    status, _ = await api.call("POST", "/v1/uploads", session_body("/h", 2 * MIB))
    assert status == 200


async def test_a_reservation_is_released_by_commit_abort_and_expiry(api, pool):
    await pool.execute("UPDATE users SET quota_bytes = $1", 10 * MIB)
    first = await api.ok("POST", "/v1/uploads", session_body("/a", 8 * MIB))
    status, _ = await api.call("POST", "/v1/uploads", session_body("/b", 4 * MIB))
    assert status == 507
    await api.ok("DELETE", f"/v1/uploads/{first['upload_id']}")  # abort: released at once
    status, _ = await api.call("GET", f"/v1/uploads/{first['upload_id']}")
    assert status == 410
    second = await api.ok("POST", "/v1/uploads", session_body("/b", 8 * MIB))
    await pool.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 s' WHERE id = $1",
                       second["upload_id"])  # fmt: skip
    await api.ok("POST", "/v1/uploads", session_body("/c", 8 * MIB))


async def test_parts_and_batches_reserve_too(api, pool):
    await pool.execute("UPDATE users SET quota_bytes = $1", 10 * MIB)
    data = os.urandom(3 * BLOCK_SIZE)
    blocks = blocks_of(data)
    opened = await api.ok("POST", "/v1/uploads", {"path": "/big", "size": len(data), "blocks": blocks[:1],
                                                  "blocks_complete": False})  # fmt: skip
    small = [{"path": f"/s{i}", "size": 3 * MIB, "blocks": blocks_of(os.urandom(3 * MIB))} for i in range(3)]
    created = (await api.ok("POST", "/v1/uploads/batch", {"files": small}))["uploads"]
    # 4 MiB reserved by the first part, then 3 + 3 fit, the third 3 does not (items are reserved in order)
    assert ["upload_id" in c for c in created] == [True, True, False]
    assert created[2]["error"]["code"] == "quota_exceeded"
    status, answer = await api.call("POST", f"/v1/uploads/{opened['upload_id']}/blocks",
                                    {"start": 1, "blocks": blocks[1:]})  # fmt: skip
    assert (status, answer["error"]["code"]) == (507, "quota_exceeded")


async def test_open_sessions_and_pending_blocks_are_limited(api):
    for i in range(4):
        await api.ok("POST", "/v1/uploads", {"path": f"/e{i}", "size": 0, "blocks": []})
    status, answer = await api.call("POST", "/v1/uploads", {"path": "/e5", "size": 0, "blocks": []})
    assert (status, answer["error"]["code"]) == (429, "too_many_uploads")
    assert answer["error"]["details"]["max_open_uploads"] == 4
    files = [{"path": f"/b{i}", "size": 0, "blocks": []} for i in range(2)]
    created = (await api.ok("POST", "/v1/uploads/batch", {"files": files}))["uploads"]
    assert [c["error"]["code"] for c in created] == ["too_many_uploads"] * 2


async def test_one_request_cannot_list_more_new_blocks_than_the_limit(api, pool):
    # the request, scaled to this server's limit (12): random hashes that are never sent
    n = 13
    fake = [{"size": BLOCK_SIZE, "md5": os.urandom(16).hex(), "sha256": os.urandom(32).hex()} for _ in range(n)]
    status, answer = await api.call("POST", "/v1/uploads", {"path": "/junk", "size": n * BLOCK_SIZE, "blocks": fake})
    assert (status, answer["error"]["code"]) == (429, "too_many_pending_blocks")
    assert await pool.fetchval("SELECT count(*) FROM blocks") == 0  # nothing written
    first = await api.ok("POST", "/v1/uploads", {"path": "/a", "size": 8 * BLOCK_SIZE, "blocks": fake[:8]})
    status, answer = await api.call("POST", "/v1/uploads", {"path": "/b", "size": 5 * BLOCK_SIZE, "blocks": fake[8:]})
    assert (status, answer["error"]["code"]) == (429, "too_many_pending_blocks")
    await api.ok("DELETE", f"/v1/uploads/{first['upload_id']}")
    await api.ok("POST", "/v1/uploads", {"path": "/b", "size": 5 * BLOCK_SIZE, "blocks": fake[8:]})


async def test_two_concurrent_puts_cannot_both_fill_the_free_space(servers, tmp_path):
    """The issue's two concurrent puts (200 MiB each with 300 MiB free), scaled down."""
    from client import TesseraClient
    from protocol.errors import QuotaExceeded

    await servers.add_user("carol", "pw-carol", quota=10 * MIB)
    files = []
    for i in range(2):
        files.append(tmp_path / f"f{i}.bin")
        files[-1].write_bytes(os.urandom(6 * MIB))
    async with TesseraClient(servers.meta_url) as c:
        await c.login("carol", "pw-carol", "t")
        results = await asyncio.gather(*(c.upload_file(f, f"/{f.name}") for f in files), return_exceptions=True)
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 1, results
    assert sum(not isinstance(r, BaseException) for r in results) == 1, results
