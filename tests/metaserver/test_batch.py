"""Batch create and batch commit: many small files in two requests, one bad item fails alone."""

from tests.metaserver.conftest import blocks_of, mark_stored


def file_req(path: str, data: bytes) -> dict:
    return {"path": path, "size": len(data), "blocks": blocks_of(data)}


async def test_batch_of_small_files(api, pool):
    files = {f"/batch/d{i % 5}/f{i}.txt": f"content {i}".encode() for i in range(60)}
    created = await api.ok("POST", "/v1/uploads/batch", {"files": [file_req(p, d) for p, d in files.items()]})
    sessions = created["uploads"]
    assert len(sessions) == 60 and all("upload_id" in s for s in sessions)
    await mark_stored(pool, [b["block_id"] for s in sessions for b in s["blocks"]])
    seq_before = await pool.fetchval("SELECT last_seq FROM namespaces")
    done = await api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [s["upload_id"] for s in sessions]})
    assert [r["path"] for r in done["results"]] == list(files)
    listing = await api.ok("GET", "/v1/files/list", path="/batch/d3")
    assert len(listing["entries"]) == 12
    # one journal row per file plus one per new folder, gap-free
    seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM journal WHERE seq > $1 ORDER BY seq", seq_before)]
    assert seqs == list(range(seq_before + 1, seq_before + 1 + 60 + 6))


async def test_bad_items_fail_alone(api, pool):
    good = file_req("/ok.txt", b"fine")
    created = await api.ok(
        "POST", "/v1/uploads/batch", {"files": [good, {"path": "/a/../b", "size": 0, "blocks": []}, file_req("/ok2", b"x")]}
    )
    first, bad, third = created["uploads"]
    assert bad["error"]["code"] == "bad_path"
    await mark_stored(pool, [b["block_id"] for b in first["blocks"]])  # third's block never arrives
    done = await api.ok(
        "POST", "/v1/uploads/commit_batch", {"upload_ids": [first["upload_id"], third["upload_id"], "nope"]}
    )
    ok, missing, unknown = done["results"]
    assert ok["path"] == "/ok.txt"
    assert missing["error"]["code"] == "blocks_missing"
    assert unknown["error"]["code"] == "not_found"
    status, _ = await api.call("GET", "/v1/files/meta", path="/ok2")
    assert status == 404
    # journal stays gap-free despite the failed items
    seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM journal ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_batch_limits(api):
    for body in ({"files": []}, {"files": [file_req(f"/f{i}", b"x") for i in range(1001)]}, {"files": "no"}, []):
        status, code = await api.error("POST", "/v1/uploads/batch", body)
        assert (status, code) == (400, "bad_request")
    done = await api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [1]})
    assert done["results"][0]["error"]["code"] == "bad_request"  # an item error, not a request error
