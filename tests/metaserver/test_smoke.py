from tests.metaserver.conftest import blocks_of, mark_stored


async def test_upload_commit_list(api, pool):
    data = b"hello world"
    up = await api.ok("POST", "/v1/uploads", {"path": "/Docs/a.txt", "size": len(data), "blocks": blocks_of(data)})
    assert up["needed"] == 1
    await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
    meta = await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    assert meta["path"] == "/Docs/a.txt" and meta["size"] == len(data)
    listing = await api.ok("GET", "/v1/files/list", path="/docs")
    assert [e["path"] for e in listing["entries"]] == ["/Docs/a.txt"]
