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
    done = await api.ok(
        "POST", "/v1/uploads/commit_batch", {"upload_ids": [s["upload_id"] for s in sessions]}
    )
    assert [r["path"] for r in done["results"]] == list(files)
    listing = await api.ok("GET", "/v1/files/list", path="/batch/d3")
    assert len(listing["entries"]) == 12
    # one journal row per file plus one per new folder, gap-free
    seqs = [
        r["seq"] for r in await pool.fetch("SELECT seq FROM journal WHERE seq > $1 ORDER BY seq", seq_before)
    ]
    assert seqs == list(range(seq_before + 1, seq_before + 1 + 60 + 6))


async def test_bad_items_fail_alone(api, pool):
    good = file_req("/ok.txt", b"fine")
    created = await api.ok(
        "POST",
        "/v1/uploads/batch",
        {"files": [good, {"path": "/a/../b", "size": 0, "blocks": []}, file_req("/ok2", b"x")]},
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
    for body in (
        {"files": []},
        {"files": [file_req(f"/f{i}", b"x") for i in range(1001)]},
        {"files": "no"},
        [],
    ):
        status, code = await api.error("POST", "/v1/uploads/batch", body)
        assert (status, code) == (400, "bad_request")
    done = await api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [1]})
    assert done["results"][0]["error"]["code"] == "bad_request"  # an item error, not a request error


async def upload_one(api, pool, path: str, data: bytes) -> dict:
    s = await api.ok("POST", "/v1/uploads", file_req(path, data))
    await mark_stored(pool, [b["block_id"] for b in s["blocks"]])
    return await api.ok("POST", f"/v1/uploads/{s['upload_id']}/commit", {})


async def test_batch_items_are_checked_as_single_uploads_are(api, pool):
    """The set-based batch refuses and accepts exactly what single creates and commits would."""
    await upload_one(api, pool, "/Docs/a.txt", b"a")
    same = await upload_one(api, pool, "/Docs/same.txt", b"same")
    await upload_one(api, pool, "/file", b"f")
    await api.ok("POST", "/v1/files/mkdir", {"path": "/Photos"})
    reqs = [
        {**file_req("/Docs/a.txt", b"other"), "mode": "add"},  # exists with other content: conflict
        {**file_req("/file/x", b"x")},  # the parent is a file
        {**file_req("/Docs/a.txt", b"new"), "mode": "update", "parent_rev": 1},  # rev 1 is current: ok
        {**file_req("/Docs/same.txt", b"same"), "mode": "add"},  # same content: ok, no new version
        {**file_req("/photos/new/deep.txt", b"deep")},  # parents: the existing folder's case wins
        {**file_req("/Docs/b.txt", b"b"), "mode": "update", "parent_rev": 99},  # not there at rev 99
    ]
    created = (await api.ok("POST", "/v1/uploads/batch", {"files": reqs}))["uploads"]
    assert created[0]["error"]["code"] == "conflict"
    assert created[1]["error"]["code"] == "not_a_folder"
    assert created[5]["error"]["code"] == "conflict"
    live = [c for c in created if "upload_id" in c]
    assert [c["path"] for c in live] == ["/Docs/a.txt", "/Docs/same.txt", "/photos/new/deep.txt"]
    assert live[1]["needed"] == 0 and live[1]["blocks"][0]["state"] == "stored"  # deduplicated
    await mark_stored(pool, [b["block_id"] for c in live for b in c["blocks"]])
    versions_before = await pool.fetchval("SELECT count(*) FROM versions")
    done = (await api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [c["upload_id"] for c in live]}))[
        "results"
    ]
    assert [d["path"] for d in done] == ["/Docs/a.txt", "/Docs/same.txt", "/Photos/new/deep.txt"]
    assert done[1]["rev"] == same["rev"]  # no new version for the same content
    assert await pool.fetchval("SELECT count(*) FROM versions") == versions_before + 2
    assert done[0]["rev"] < done[2]["rev"]  # revisions in item order
    meta = await api.ok("GET", "/v1/files/meta", path="/photos/NEW/deep.txt")
    assert meta == done[2]
    blocks = await api.ok("GET", "/v1/files/blocks", path="/Docs/a.txt")
    assert blocks["rev"] == done[0]["rev"] and blocks["blocks"][0]["sha256"] == blocks_of(b"new")[0]["sha256"]
    # a commit batch sent again (its answer lost) answers the same metadata
    again = (
        await api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [c["upload_id"] for c in live]})
    )["results"]
    assert again == done
    seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM journal ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_commit_batch_touching_one_path_twice_commits_in_order(api, pool):
    first = (await api.ok("POST", "/v1/uploads/batch", {"files": [file_req("/twice.txt", b"one")]}))[
        "uploads"
    ][0]
    second = (
        await api.ok(
            "POST", "/v1/uploads/batch", {"files": [{**file_req("/twice.txt", b"two"), "mode": "add"}]}
        )
    )["uploads"][0]
    await mark_stored(pool, [b["block_id"] for s in (first, second) for b in s["blocks"]])
    done = (
        await api.ok(
            "POST", "/v1/uploads/commit_batch", {"upload_ids": [first["upload_id"], second["upload_id"]]}
        )
    )["results"]
    assert done[0]["path"] == "/twice.txt"
    assert done[1]["error"]["code"] == "conflict"  # the first one landed before it, as in single commits


async def test_quota_is_checked_per_item(api, pool):
    await pool.execute("UPDATE users SET quota_bytes = 150 WHERE name = 'alice'")
    reqs = [file_req("/small", b"x" * 100), file_req("/big", b"y" * 200)]
    created = (await api.ok("POST", "/v1/uploads/batch", {"files": reqs}))["uploads"]
    assert "upload_id" in created[0]
    assert created[1]["error"]["code"] == "quota_exceeded"
