"""Batch create and commit do their batch's own work before they queue on the namespace's journal row."""

import asyncio

from tests.metaserver.conftest import blocks_of, mark_stored

#: bound on waiting for a request to reach the journal lock
WAIT_S = 30.0


def file_req(path: str, data: bytes) -> dict:
    return {"path": path, "size": len(data), "blocks": blocks_of(data)}


async def _waiting_backend(pool, holder_pid: int) -> int:
    """The pid of the backend waiting for a lock ``holder_pid`` holds."""
    async with asyncio.timeout(WAIT_S):
        while True:
            pids = await pool.fetch(
                "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder_pid
            )
            if pids:
                return pids[0]["pid"]
            await asyncio.sleep(0.01)


async def _tables_locked_by(pool, pid: int) -> set[str]:
    rows = await pool.fetch(
        "SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE l.pid = $1 AND l.granted",
        pid,
    )
    return {r["relname"] for r in rows}


async def test_batch_create_and_commit_take_the_journal_lock_last(api, pool):
    files = {f"/lock/d{i % 3}/f{i}.txt": f"content {i}".encode() for i in range(30)}
    async with pool.acquire() as holder:
        holder_pid = await holder.fetchval("SELECT pg_backend_pid()")
        async with holder.transaction():
            # another writer of the namespace holds the journal row
            await holder.execute("SELECT last_seq FROM namespaces FOR NO KEY UPDATE")
            create = asyncio.ensure_future(
                api.ok("POST", "/v1/uploads/batch", {"files": [file_req(p, d) for p, d in files.items()]})
            )
            waiting = await _waiting_backend(pool, holder_pid)
            # it waits with its sessions and their blocks written already
            assert {"upload_sessions", "session_blocks", "blocks"} <= await _tables_locked_by(pool, waiting)
            assert not create.done()
        sessions = (await create)["uploads"]
    await mark_stored(pool, [b["block_id"] for s in sessions for b in s["blocks"]])
    seq_before = await pool.fetchval("SELECT last_seq FROM namespaces")
    async with pool.acquire() as holder:
        holder_pid = await holder.fetchval("SELECT pg_backend_pid()")
        async with holder.transaction():
            await holder.execute("SELECT last_seq FROM namespaces FOR NO KEY UPDATE")
            commit = asyncio.ensure_future(
                api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [s["upload_id"] for s in sessions]})
            )
            waiting = await _waiting_backend(pool, holder_pid)
            # its sessions are locked and checked; it has written nothing of the namespace yet
            tables = await _tables_locked_by(pool, waiting)
            assert "upload_sessions" in tables and "versions" not in tables and "entries" not in tables
            assert not commit.done()
        done = await commit
    assert [r["path"] for r in done["results"]] == list(files)
    seqs = [
        r["seq"] for r in await pool.fetch("SELECT seq FROM journal WHERE seq > $1 ORDER BY seq", seq_before)
    ]
    assert seqs == list(range(seq_before + 1, seq_before + 1 + 30 + 4))  # 30 files, 3 folders + /lock


async def test_batches_in_flight_together_commit_gap_free(api, pool):
    batches = [{f"/many/b{b}/f{i}.txt": f"batch {b} file {i}".encode() for i in range(20)} for b in range(4)]
    created = await asyncio.gather(
        *(
            api.ok("POST", "/v1/uploads/batch", {"files": [file_req(p, d) for p, d in f.items()]})
            for f in batches
        )
    )
    await mark_stored(pool, [b["block_id"] for c in created for s in c["uploads"] for b in s["blocks"]])
    done = await asyncio.gather(
        *(
            api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [s["upload_id"] for s in c["uploads"]]})
            for c in created
        )
    )
    for files, answer in zip(batches, done, strict=True):
        assert [r["path"] for r in answer["results"]] == list(files)
    seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM journal ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
