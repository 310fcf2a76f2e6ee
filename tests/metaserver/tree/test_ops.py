"""mkdir, delete, move, listing, and the journal rows they write."""

import pytest

from tests.metaserver.uploads.test_sessions import upload


async def journal(pool) -> list[tuple]:
    rows = await pool.fetch("SELECT seq, path, kind, deleted FROM journal ORDER BY seq")
    return [(r["seq"], r["path"], r["kind"], r["deleted"]) for r in rows]


async def test_mkdir_creates_parents_and_refuses_existing(api, pool):
    meta = await api.ok("POST", "/v1/files/mkdir", {"path": "/a/b/c"})
    assert meta == {"kind": "folder", "path": "/a/b/c", "name": "c"}
    assert [j[1] for j in await journal(pool)] == ["/a", "/a/b", "/a/b/c"]
    assert [j[0] for j in await journal(pool)] == [1, 2, 3]
    status, code = await api.error("POST", "/v1/files/mkdir", {"path": "/A/B"})
    assert (status, code) == (409, "exists")
    status, code = await api.error("POST", "/v1/files/mkdir", {"path": "/"})
    assert (status, code) == (400, "bad_path")


async def test_list_pages_and_is_case_insensitive(api, pool):
    for i in range(7):
        await api.ok("POST", "/v1/files/mkdir", {"path": f"/Folder/sub{i}"})
    await upload(api, pool, "/Folder/file.txt", b"data")
    seen, cursor = [], ""
    while True:
        page = await api.ok("GET", "/v1/files/list", path="/folder", limit=3, cursor=cursor)
        seen += [e["path"] for e in page["entries"]]
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert seen == ["/Folder/file.txt"] + [f"/Folder/sub{i}" for i in range(7)]
    root = await api.ok("GET", "/v1/files/list", path="/")
    assert [e["path"] for e in root["entries"]] == ["/Folder"]
    status, code = await api.error("GET", "/v1/files/list", path="/Folder/file.txt")
    assert (status, code) == (409, "not_a_folder")
    status, code = await api.error("GET", "/v1/files/list", path="/missing")
    assert (status, code) == (404, "not_found")
    status, code = await api.error("GET", "/v1/files/list", path="/", limit=0)
    assert (status, code) == (400, "bad_request")


async def test_case_insensitive_uniqueness(api, pool):
    await upload(api, pool, "/Readme.md", b"1")
    status, code = await api.error("POST", "/v1/files/mkdir", {"path": "/README.MD"})
    assert (status, code) == (409, "exists")
    meta = await upload(api, pool, "/README.md", b"2")
    assert meta["path"] == "/Readme.md"  # an existing entry keeps its display case


async def test_delete_file_and_folder_tree(api, pool):
    await upload(api, pool, "/d/x/1.txt", b"1")
    await upload(api, pool, "/d/2.txt", b"2")
    meta = await api.ok("POST", "/v1/files/delete", {"path": "/D"})
    assert meta == {"kind": "folder", "path": "/d", "name": "d"}
    for p in ("/d", "/d/x", "/d/x/1.txt", "/d/2.txt"):
        status, code = await api.error("GET", "/v1/files/meta", path=p)
        assert (status, code) == (404, "not_found")
    deleted = [j for j in await journal(pool) if j[3]]
    assert {j[1] for j in deleted} == {"/d", "/d/x", "/d/x/1.txt", "/d/2.txt"}
    assert deleted[-1][1] == "/d"  # children before their folder
    status, code = await api.error("POST", "/v1/files/delete", {"path": "/d"})
    assert (status, code) == (404, "not_found")
    # the name is free again
    await upload(api, pool, "/d", b"now a file")


async def test_move_file_and_folder(api, pool):
    f = await upload(api, pool, "/src/a/deep.txt", b"deep")
    moved = await api.ok("POST", "/v1/files/move", {"from": "/src", "to": "/dst/inner"})
    assert moved["path"] == "/dst/inner" and moved["kind"] == "folder"
    meta = await api.ok("GET", "/v1/files/meta", path="/dst/inner/a/deep.txt")
    assert meta["rev"] == f["rev"] and meta["content_hash"] == f["content_hash"]
    status, _ = await api.error("GET", "/v1/files/meta", path="/src/a/deep.txt")
    assert status == 404
    renamed = await api.ok("POST", "/v1/files/move", {"from": "/dst/inner/a/deep.txt", "to": "/top.txt"})
    assert renamed["path"] == "/top.txt" and renamed["rev"] == f["rev"]


async def test_case_only_rename(api, pool):
    await upload(api, pool, "/photos/cat.jpg", b"c")
    meta = await api.ok("POST", "/v1/files/move", {"from": "/photos", "to": "/Photos"})
    assert meta["path"] == "/Photos"
    child = await api.ok("GET", "/v1/files/meta", path="/photos/cat.jpg")
    assert child["path"] == "/Photos/cat.jpg"
    root = await api.ok("GET", "/v1/files/list", path="/")
    assert [e["path"] for e in root["entries"]] == ["/Photos"]


@pytest.mark.parametrize(
    "src,dst,status,code",
    [
        ("/m", "/m/inside", 400, "bad_path"),
        ("/m", "/taken", 409, "exists"),
        ("/missing", "/x", 404, "not_found"),
        ("/", "/x", 400, "bad_path"),
        ("/m", "/f/under-a-file", 409, "not_a_folder"),
        ("/m", "/../x", 400, "bad_path"),
    ],
)
async def test_bad_moves_change_nothing(api, pool, src, dst, status, code):
    await api.ok("POST", "/v1/files/mkdir", {"path": "/m/child"})
    await api.ok("POST", "/v1/files/mkdir", {"path": "/taken"})
    await upload(api, pool, "/f", b"file")
    before = await journal(pool)
    assert await api.error("POST", "/v1/files/move", {"from": src, "to": dst}) == (status, code)
    assert await journal(pool) == before


async def test_root_metadata_and_missing(api):
    assert await api.ok("GET", "/v1/files/meta", path="/") == {"kind": "folder", "path": "/", "name": ""}
    status, code = await api.error("GET", "/v1/files/meta")
    assert (status, code) == (400, "bad_request")
