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


async def test_append_takes_the_next_numbers_in_one_statement_and_notifies(api, pool):
    from metaserver.tree.journal import NOTIFY_CHANNEL, SERVER, Journal

    await api.ok("POST", "/v1/files/mkdir", {"path": "/before"})
    ns_id, last = await pool.fetchrow("SELECT id, last_seq FROM namespaces")
    heard: list[str] = []

    def hear(_conn, _pid, _channel, payload: str) -> None:
        heard.append(payload)

    async with pool.acquire() as listener:
        await listener.add_listener(NOTIFY_CHANNEL, hear)
        try:
            async with pool.acquire() as conn, conn.transaction():
                got = await Journal.append(
                    conn, ns_id, SERVER, [("/a", "/a", "pending", None, False), ("/b", "/B", "folder", None, True)]
                )
            for _ in range(100):
                if heard:
                    break
                await asyncio.sleep(0.01)
        finally:
            await listener.remove_listener(NOTIFY_CHANNEL, hear)
    assert got == last + 2
    assert await pool.fetchval("SELECT last_seq FROM namespaces WHERE id = $1", ns_id) == last + 2
    rows = await pool.fetch("SELECT seq, path_key, path, kind, deleted FROM journal WHERE ns_id = $1 AND seq > $2 ORDER BY seq", ns_id, last)  # fmt: skip
    assert [tuple(r) for r in rows] == [(last + 1, "/a", "/a", "pending", False), (last + 2, "/b", "/B", "folder", True)]
    assert heard == [f"{ns_id}:{last + 2}"]


async def test_append_of_a_missing_namespace_is_not_found(pool):
    import pytest

    from metaserver.tree.journal import SERVER, Journal
    from protocol.errors import NotFound

    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(NotFound):
            await Journal.append(conn, 999_999, SERVER, [("/a", "/a", "pending", None, False)])


async def test_appends_and_other_writers_share_one_gap_free_sequence(api, pool):
    """Creates (which append) and mkdirs (which begin and flush) racing on one namespace."""

    async def create(i: int) -> None:
        data = f"file {i}".encode()
        await api.ok("POST", "/v1/uploads", {"path": f"/f{i}", "size": len(data), "blocks": blocks_of(data)})

    async def mkdir(i: int) -> None:
        await api.ok("POST", "/v1/files/mkdir", {"path": f"/d{i}"})

    await asyncio.gather(*(create(i) for i in range(20)), *(mkdir(i) for i in range(20)))
    ns_id, last = await pool.fetchrow("SELECT id, last_seq FROM namespaces")
    seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM journal WHERE ns_id = $1 ORDER BY seq", ns_id)]
    assert seqs == list(range(seqs[0], last + 1)) and len(seqs) >= 40
