"""``POST /v1/files/blocks_batch``: the block lists of many files in one request, bounded."""

from tests.metaserver.uploads.test_batch import upload_one


async def test_blocks_batch_gives_many_block_lists(api, pool):
    a = await upload_one(api, pool, "/b/a.txt", b"aaa")
    b = await upload_one(api, pool, "/b/b.txt", b"bbbb")
    old = a["rev"]
    a2 = await upload_one(api, pool, "/b/a.txt", b"aaa2")
    await upload_one(api, pool, "/b/empty", b"")
    body = {
        "files": [
            {"path": "/b/a.txt", "rev": old},
            {"path": "/B/B.TXT"},
            {"path": "/b/a.txt"},
            {"path": "/b/missing"},
            {"path": "/b"},
            {"path": "/b/../x"},
            {"path": "/b/a.txt", "rev": 10_000},
            {"path": "/b/empty"},
        ]
    }
    answer = await api.ok("POST", "/v1/files/blocks_batch", body)
    assert answer["block_servers"] == ["http://127.0.0.1:9"]
    f = answer["files"]
    assert (f[0]["rev"], f[1]["rev"], f[2]["rev"]) == (old, b["rev"], a2["rev"])
    single = await api.ok("GET", "/v1/files/blocks", path="/b/a.txt", rev=old)
    assert [{k: v for k, v in x.items() if k != "grant"} for x in f[0]["blocks"]] == [
        {k: v for k, v in x.items() if k != "grant"} for x in single["blocks"]
    ]
    assert f[0]["total"] == 1 and f[0]["start"] == 0 and f[0]["content_hash"] == a["content_hash"]
    assert [x["error"]["code"] for x in f[3:7]] == ["not_found", "is_a_folder", "bad_path", "not_found"]
    assert f[7]["blocks"] == [] and f[7]["total"] == 0


async def test_blocks_batch_is_bounded(api, pool, monkeypatch):
    from metaserver.web import files_batch as web_files_batch

    for i in range(3):
        await upload_one(api, pool, f"/m{i}", b"%d" % i)
    monkeypatch.setattr(web_files_batch, "MAX_BLOCKS", 2)
    f = (await api.ok("POST", "/v1/files/blocks_batch", {"files": [{"path": f"/m{i}"} for i in range(3)]}))[
        "files"
    ]
    assert [len(x["blocks"]) for x in f] == [1, 1, 0]  # the last list is cut short: page it singly
    assert f[2]["total"] == 1
    for body in ({"files": []}, {"files": [{"path": "/m0"}] * 1001}, {"files": "no"}):
        status, code = await api.error("POST", "/v1/files/blocks_batch", body)
        assert (status, code) == (400, "bad_request")
