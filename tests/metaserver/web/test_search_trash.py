"""``GET /v1/search?deleted=true`` searches the trash (metaserver/tree/trash.py) beside the live
entries: a deleted folder and what was deleted with it, a path deleted more than once, pages
through them, and what is restored leaves the deleted results."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.metaserver.uploads.test_sessions import upload
from tests.metaserver.web.test_search import found, mkdirs, search


@pytest.fixture
def server_config(server_config):
    return replace(server_config, search_rate_limit=0)


async def matches(api, q: str, **params) -> list[dict]:
    """Every match, best first, page after page."""
    out, cursor = [], ""
    while True:
        page = await search(api, q, **params, **({"cursor": cursor} if cursor else {}))
        out += page["matches"]
        if not page["has_more"]:
            return out
        cursor = page["cursor"]


async def test_a_deleted_folder_and_the_files_in_it_are_found_in_the_trash(api, pool):
    first = await upload(api, pool, "/Trips/Zürich/zurich map.pdf", b"map")
    await mkdirs(api, "/Trips/Zürich/Zurich photos")
    await upload(api, pool, "/zurich live.txt", b"live")
    await api.ok("POST", "/v1/files/delete", {"path": "/Trips/Zürich"})
    assert await found(api, "zurich") == ["/zurich live.txt"]
    got = {m["path"]: m for m in await matches(api, "ZURICH", deleted=True)}
    assert set(got) == {"/Trips/Zürich", "/zurich live.txt", "/Trips/Zürich/zurich map.pdf",
                        "/Trips/Zürich/Zurich photos"}  # fmt: skip
    folder, pdf, live = got["/Trips/Zürich"], got["/Trips/Zürich/zurich map.pdf"], got["/zurich live.txt"]
    assert (folder["kind"], folder["deleted"], folder["match"], folder["size"]) == ("folder", True, "exact", None)
    assert (pdf["kind"], pdf["deleted"], pdf["size"], pdf["rev"]) == ("file", True, 3, first["rev"])
    assert (live["deleted"], live["trash_id"]) == (False, None)
    trash = await api.ok("GET", "/v1/trash", path="/Trips/Zürich")
    ids = {e["path"]: e["id"] for e in trash["entries"]}
    assert {p: m["trash_id"] for p, m in got.items() if m["deleted"]} == ids
    assert pdf["modified"] == pytest.approx(trash["entries"][0]["deleted"], abs=1)  # when it was deleted
    # type and path narrow the trash as they do the tree
    assert await found(api, "zurich", deleted=True, type="file", path="/Trips") == ["/Trips/Zürich/zurich map.pdf"]
    assert await found(api, "zurich", deleted=True, path="/Trips/Zürich") == [
        "/Trips/Zürich/Zurich photos", "/Trips/Zürich/zurich map.pdf"]  # fmt: skip


async def test_a_path_deleted_twice_is_two_matches_and_pages_neither_repeat_nor_skip(api, pool):
    for content in (b"one", b"two", b"three"):
        await upload(api, pool, "/notes/budget.xlsx", content)
        await api.ok("POST", "/v1/files/delete", {"path": "/notes/budget.xlsx"})
    await upload(api, pool, "/notes/budget.xlsx", b"live")
    for i in range(3):
        await mkdirs(api, f"/budget {i}")
        await api.ok("POST", "/v1/files/delete", {"path": f"/budget {i}"})
    whole = await matches(api, "budget", deleted=True, limit=1000)
    same_path = [m for m in whole if m["path"] == "/notes/budget.xlsx"]
    # the live file first, then the trash rows in the order they were deleted (by trash id)
    assert [(m["deleted"], m["size"]) for m in same_path] == [(False, 4), (True, 3), (True, 3), (True, 5)]
    assert same_path[0]["trash_id"] is None and len({m["trash_id"] for m in same_path}) == 4
    assert len(whole) == 7
    keys = [(m["path"], m["trash_id"]) for m in whole]
    for limit in (1, 2, 3):
        paged = await matches(api, "budget", deleted=True, limit=limit)
        assert [(m["path"], m["trash_id"]) for m in paged] == keys, limit
    assert await found(api, "budget") == ["/notes/budget.xlsx"]  # without deleted: the live file only
    # the prefix phase and the substring one both page through the trash ("budg": a prefix; "udge": inside)
    for q in ("budg", "udge"):
        assert len(await matches(api, q, deleted=True, limit=2)) == 7, q


async def test_what_is_restored_leaves_the_deleted_results(api, pool):
    await upload(api, pool, "/Letters/letter to anna.txt", b"anna")
    await upload(api, pool, "/Letters/letter to ben.txt", b"ben")
    await api.ok("POST", "/v1/files/delete", {"path": "/Letters"})
    before = {m["path"]: m["deleted"] for m in await matches(api, "letter", deleted=True)}
    assert before == {"/Letters": True, "/Letters/letter to anna.txt": True, "/Letters/letter to ben.txt": True}
    await api.ok("POST", "/v1/trash/restore", {"path": "/Letters/letter to anna.txt"})
    after = {m["path"]: m["deleted"] for m in await matches(api, "letter", deleted=True)}
    assert after == {"/Letters": True, "/Letters/letter to anna.txt": False, "/Letters/letter to ben.txt": True}
    await api.ok("POST", "/v1/trash/restore", {"path": "/Letters"})  # beside the /Letters anna came back in
    assert not [m for m in await matches(api, "letter", deleted=True) if m["deleted"]]
    assert len(await found(api, "letter to ben")) == 1
    await api.ok("POST", "/v1/trash/purge", {"all": True})
    assert await found(api, "anna", deleted=True) == ["/Letters/letter to anna.txt"]
