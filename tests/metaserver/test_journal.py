"""The journal lock: concurrent writers of one namespace queue up, they never deadlock."""

import asyncio

from tests.metaserver.conftest import blocks_of


async def test_concurrent_uploads_and_commits_do_not_deadlock(api, pool):
    # each create inserts an upload session (whose foreign key share-locks the namespace row)
    # before it takes the journal lock on that same row: the lock must not conflict with that
    async def one(i: int) -> tuple[int, int]:
        data = f"file {i}".encode()
        status, up = await api.call(
            "POST", "/v1/uploads", {"path": f"/f{i}", "size": len(data), "blocks": blocks_of(data)}
        )
        if status != 200:
            return status, 0
        await pool.execute(
            "UPDATE blocks SET state = 'stored', stored_at = now() WHERE id = ANY($1::uuid[])",
            [b["block_id"] for b in up["blocks"]],
        )
        status, _ = await api.call("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
        return status, 1

    results = await asyncio.gather(*(one(i) for i in range(24)))
    assert results == [(200, 1)] * 24
