"""``GET /v1/search`` against a real metadata server and PostgreSQL: what matches, in what order,
page after page, and never anything of another user."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from metaserver.core.users import create_user
from tests.metaserver.uploads.test_sessions import upload


@pytest.fixture
def server_config(server_config):
    """The servers of this module's tests search without the per-user search limit (some send
    hundreds of searches at once); the test of that limit sets its own."""
    return replace(server_config, search_rate_limit=0)


async def search(api, q: str, **params) -> dict:
    return await api.ok("GET", "/v1/search", q=q, **{k: str(v).lower() if isinstance(v, bool) else v
                                                      for k, v in params.items()})  # fmt: skip


async def found(api, q: str, **params) -> list[str]:
    """The paths of every match, best first, page after page."""
    out, cursor = [], ""
    while True:
        page = await search(api, q, **params, **({"cursor": cursor} if cursor else {}))
        out += [m["path"] for m in page["matches"]]
        if not page["has_more"]:
            return out
        cursor = page["cursor"]


async def mkdirs(api, *paths: str) -> None:
    for p in paths:
        await api.ok("POST", "/v1/files/mkdir", {"path": p})


async def test_ranking_exact_then_prefix_then_word_then_substring_then_similar(api, pool):
    await mkdirs(api, "/Report", "/Reports 2024", "/Annual report", "/misreported", "/Repport notes")
    await upload(api, pool, "/report.pdf", b"r")
    await upload(api, pool, "/Budget/annual_report_v2.docx", b"x")
    page = await search(api, "report")
    got = [(m["path"], m["match"]) for m in page["matches"]]
    assert got == [
        ("/Report", "exact"),
        ("/report.pdf", "prefix"),  # covers more of its name than "Reports 2024"
        ("/Reports 2024", "prefix"),
        ("/Annual report", "word"),
        ("/Budget/annual_report_v2.docx", "word"),
        ("/misreported", "contains"),
        ("/Repport notes", "similar"),
    ]
    scores = [m["score"] for m in page["matches"]]
    assert scores[0] == 1.0 and scores[1] > scores[2] and scores[3] > scores[4]
    assert not page["has_more"]
    pdf = page["matches"][1]
    assert pdf["kind"] == "file" and pdf["size"] == 1 and pdf["rev"] and pdf["modified"] > 0
    assert page["matches"][0] | {"modified": 0} == {
        "path": "/Report", "name": "Report", "kind": "folder", "deleted": False, "match": "exact",
        "score": 1.0, "modified": 0, "size": None, "rev": None, "trash_id": None,
    }  # fmt: skip


async def test_case_and_accents_do_not_matter_either_way(api, pool):
    await upload(api, pool, "/CV/Résumé 2026.PDF", b"cv")
    await mkdirs(api, "/Straße", "/Øresund Bridge", "/ﬁnal cut", "/Crème Brûlée")
    assert await found(api, "resume") == ["/CV/Résumé 2026.PDF"]
    assert await found(api, "RÉSUMÉ 2026.pdf") == ["/CV/Résumé 2026.PDF"]
    assert await found(api, "strasse") == ["/Straße"]
    assert await found(api, "STRAẞE") == ["/Straße"]
    assert await found(api, "oresund") == ["/Øresund Bridge"]
    assert await found(api, "final") == ["/ﬁnal cut"]
    assert await found(api, "creme brulee") == ["/Crème Brûlée"]
    assert await found(api, "cre\u0300me") == ["/Crème Brûlée"]  # a query in NFD folds the same


async def test_pages_have_no_duplicates_and_no_gaps_even_while_names_change(api, pool):
    names = [f"/notes/note {i:02d}.txt" for i in range(23)] + ["/note", "/notebook", "/my notes", "/keynote"]
    await mkdirs(api, *[n for n in names if not n.endswith(".txt")])
    for n in names:
        if n.endswith(".txt"):
            await upload(api, pool, n, n.encode())
    everything = await found(api, "note", limit=1000)
    assert len(everything) == len(set(everything)) == len(names) + 1  # and the folder /notes
    first = await search(api, "note", limit=5)
    assert [m["path"] for m in first["matches"]] == everything[:5] and first["has_more"]
    # a match added before the cursor's position does not shift the next page
    await mkdirs(api, "/Archive/note")  # exact, and its path sorts first: it ranks before the cursor
    seen = [m["path"] for m in first["matches"]]
    cursor = first["cursor"]
    while cursor:
        page = await search(api, "note", limit=5, cursor=cursor)
        seen += [m["path"] for m in page["matches"]]
        cursor = page["cursor"] if page["has_more"] else ""
    assert seen == everything


async def test_every_page_size_gives_the_same_order_across_the_phases(api, pool):
    """Exact and prefix matches come from the btree, word and substring ones from the trigram
    index, similar ones last: pages of any size cross from one to the next without a gap."""
    await mkdirs(api, "/Plan", "/plan b", "/Planning", "/Old/plan", "/x/Plans for 2026", "/project plan",
                 "/floorplan", "/Plna draft", "/Plan_deleted", "/Gone/planner notes")  # fmt: skip
    await upload(api, pool, "/plan.txt", b"p")
    await upload(api, pool, "/Old/plans.pdf", b"q")
    await api.ok("POST", "/v1/files/delete", {"path": "/Plan_deleted"})
    await api.ok("POST", "/v1/files/delete", {"path": "/Gone"})
    for params in ({}, {"deleted": True}, {"type": "file"}, {"path": "/Old"}, {"deleted": True, "type": "folder"}):
        whole = await found(api, "plan", limit=1000, **params)
        assert whole, params
        for limit in (1, 2, 3):
            assert await found(api, "plan", limit=limit, **params) == whole, (params, limit)
    assert await found(api, "plan") == ["/Old/plan", "/Plan", "/plan b", "/plan.txt", "/Planning", "/Old/plans.pdf",
                                        "/x/Plans for 2026", "/project plan", "/floorplan"]  # fmt: skip
    assert "/Gone/planner notes" in await found(api, "plan", deleted=True)


async def test_a_tampered_or_foreign_cursor_is_400(api, meta, pool):
    for i in range(4):
        await mkdirs(api, f"/photo {i}")
    page = await search(api, "photo", limit=2)
    cursor = page["cursor"]
    payload, mac = cursor.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[-1] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=") + "." + mac
    for bad in (forged, cursor + "x", "nonsense", cursor.replace(".", ""), "a.b.c", "é.é", "x" * 5000):
        status, code = await api.error("GET", "/v1/search", q="photo", cursor=bad)
        assert (status, code) == (400, "bad_cursor" if len(bad) < 5000 else "bad_request"), bad
    for other in ({"q": "photos"}, {"q": "photo", "type": "folder"}, {"q": "photo", "deleted": "true"},
                  {"q": "photo", "path": "/photo 1"}):  # fmt: skip
        status, code = await api.error("GET", "/v1/search", cursor=cursor, **other)
        assert (status, code) == (400, "bad_cursor"), other
    # the same search in other words (case, accents) keeps its cursor
    assert (await search(api, "PHÓTO", limit=2, cursor=cursor))["matches"]
    # another user's cursor is refused, so it cannot be replayed against their own tree
    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-secret")
    bob = (await meta.ok("POST", "/v1/auth/login", {"user": "bob", "password": "pw-bob-secret", "device": "b"}))["token"]
    status, answer = await meta.call("GET", "/v1/search", token=bob, q="photo", cursor=cursor)
    assert (status, answer["error"]["code"]) == (400, "bad_cursor")


async def test_path_and_type_narrow_the_search(api, pool):
    await upload(api, pool, "/Work/plan.txt", b"1")
    await upload(api, pool, "/Work/Old/plan (old).txt", b"2")
    await upload(api, pool, "/Home/plan.txt", b"3")
    await mkdirs(api, "/Work/Plans", "/Workshop/plan")
    assert await found(api, "plan", path="/work") == ["/Work/Plans", "/Work/plan.txt", "/Work/Old/plan (old).txt"]
    assert await found(api, "plan", path="/Work/old") == ["/Work/Old/plan (old).txt"]
    assert await found(api, "plan", path="/Work", type="folder") == ["/Work/Plans"]
    assert await found(api, "plan", type="folder") == ["/Workshop/plan", "/Work/Plans"]
    assert await found(api, "work", type="file") == []
    assert await found(api, "plan", path="/nowhere") == []
    # the folder itself is not "below" itself
    assert await found(api, "old", path="/Work/Old") == ["/Work/Old/plan (old).txt"]


async def test_deleted_entries_only_with_deleted(api, pool):
    await upload(api, pool, "/Taxes/tax return 2024.pdf", b"t")
    await upload(api, pool, "/tax notes.txt", b"n")
    await api.ok("POST", "/v1/files/delete", {"path": "/Taxes"})
    assert await found(api, "tax") == ["/tax notes.txt"]
    page = await search(api, "tax", deleted=True)
    got = {m["path"]: (m["kind"], m["deleted"], m["size"]) for m in page["matches"]}
    assert got == {
        "/Taxes": ("folder", True, None),
        "/tax notes.txt": ("file", False, 1),
        "/Taxes/tax return 2024.pdf": ("file", True, 1),  # a deleted file keeps its last size
    }
    assert await found(api, "tax", deleted=True, type="file", path="/Taxes") == ["/Taxes/tax return 2024.pdf"]


async def test_another_users_names_are_never_returned(api, meta, pool):
    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-secret")
    bob = (await meta.ok("POST", "/v1/auth/login", {"user": "bob", "password": "pw-bob-secret", "device": "b"}))["token"]
    await upload(api, pool, "/secret plans/alice diary.txt", b"a")
    await mkdirs(api, "/shared words")
    await api.ok("POST", "/v1/files/delete", {"path": "/secret plans"})
    await api.ok("POST", "/v1/files/mkdir", {"path": "/shared words/alice only"})
    status, answer = await meta.call("POST", "/v1/files/mkdir", {"path": "/Shared Words/bob only"}, token=bob)
    assert status == 200, answer
    for q in ("alice", "secret", "diary", "shared", "only", "word", "a", "al", "txt", "plans"):
        for extra in ({}, {"deleted": "true"}, {"type": "file"}, {"path": "/shared words"}):
            status, answer = await meta.call("GET", "/v1/search", token=bob, q=q, limit="1000", **extra)
            assert status == 200, answer
            paths = [m["path"] for m in answer["matches"]]
            assert all("alice" not in p and "secret" not in p for p in paths), (q, extra, paths)
    status, answer = await meta.call("GET", "/v1/search", token=bob, q="only")
    assert [m["path"] for m in answer["matches"]] == ["/Shared Words/bob only"]
    assert await found(api, "only") == ["/shared words/alice only"]


async def test_a_moved_or_renamed_entry_is_found_by_its_new_name_only(api, pool):
    await upload(api, pool, "/Drafts/kitten.jpg", b"k")
    await upload(api, pool, "/Drafts/inside/puppy.jpg", b"p")
    await api.ok("POST", "/v1/files/move", {"from": "/Drafts/kitten.jpg", "to": "/Pets/tiger.jpg"})
    assert await found(api, "kitten") == []
    assert await found(api, "tiger") == ["/Pets/tiger.jpg"]
    assert await found(api, "kitten", deleted=True) == []  # a move is no deletion: nothing in the trash
    await api.ok("POST", "/v1/files/move", {"from": "/Drafts", "to": "/Archive 2020"})
    assert await found(api, "drafts") == []
    assert await found(api, "puppy") == ["/Archive 2020/inside/puppy.jpg"]
    assert await found(api, "archive") == ["/Archive 2020"]
    await api.ok("POST", "/v1/files/move", {"from": "/Pets/tiger.jpg", "to": "/Pets/TIGER.JPG"})  # case only
    assert [m["name"] for m in (await search(api, "tiger"))["matches"]] == ["TIGER.JPG"]


async def test_short_queries_match_the_start_of_a_name_or_a_word(api, pool):
    await mkdirs(api, "/CV", "/my cv (2)", "/old_cv", "/recv", "/cvs", "/v2", "/tax_v2", "/dev2")
    assert await found(api, "cv") == ["/CV", "/cvs", "/old_cv", "/my cv (2)"]
    assert await found(api, "V2") == ["/v2", "/tax_v2"]
    assert await found(api, "c") == ["/CV", "/cvs", "/old_cv", "/my cv (2)"]
    assert await found(api, "(2") == ["/my cv (2)"]


async def test_numbers_do_not_match_similar_numbers(api):
    await mkdirs(api, "/trip 2022", "/budget 2023", "/Receipt Recipe")
    assert await found(api, "2027") == []
    assert await found(api, "2023") == ["/budget 2023"]
    assert await found(api, "reciept") == ["/Receipt Recipe"]  # a word with a typo is similar


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 256},
        {"q": "a\x00b"},
        {"q": "tab\there"},
        {"q": "x", "type": "link"},
        {"q": "x", "limit": "0"},
        {"q": "x", "limit": "1001"},
        {"q": "x", "limit": "ten"},
        {"q": "x", "deleted": "maybe"},
        {"q": "x", "path": "relative"},
        {"q": "x", "path": "/a/../b"},
    ],
)
async def test_bad_input_is_400_with_a_code(api, params):
    status, answer = await api.call("GET", "/v1/search", **params)
    assert status == 400, answer
    assert answer["error"]["code"] in ("bad_request", "bad_path") and answer["error"]["message"]


async def test_search_needs_a_token_and_is_rate_limited(server_config, pool):
    import aiohttp

    from metaserver.app import create_app
    from tests.conftest import start_site
    from tests.metaserver.conftest import Api

    config = replace(server_config, rate_limit=1.0, rate_burst=3)
    runner, url = await start_site(create_app(config))
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, url)
            status, answer = await api.call("GET", "/v1/search", q="x")
            assert (status, answer["error"]["code"]) == (401, "unauthorized")
            async with pool.acquire() as conn:
                await create_user(conn, "carol", "pw-carol-1")
            api.token = (await api.ok("POST", "/v1/auth/login", {"user": "carol", "password": "pw-carol-1"}))["token"]
            codes = [(await api.call("GET", "/v1/search", q="x"))[0] for _ in range(4)]
            assert codes[:2] == [200, 200] and codes[-1] == 429, codes
    finally:
        await runner.cleanup()


async def test_searches_are_limited_per_user_whatever_the_device(server_config, pool):
    import aiohttp

    from metaserver.app import create_app
    from tests.conftest import start_site
    from tests.metaserver.conftest import Api

    config = replace(server_config, search_rate_limit=0.01, search_burst=2)
    runner, url = await start_site(create_app(config))
    try:
        async with aiohttp.ClientSession() as session:
            async with pool.acquire() as conn:
                await create_user(conn, "dave", "pw-dave-12")
                await create_user(conn, "erin", "pw-erin-12")
            laptop, phone, erin = Api(session, url), Api(session, url), Api(session, url)
            for api, user in ((laptop, "dave"), (phone, "dave"), (erin, "erin")):
                login = {"user": user, "password": f"pw-{user}-12", "device": f"{user}-{id(api)}"}
                api.token = (await api.ok("POST", "/v1/auth/login", login))["token"]
            assert [(await laptop.call("GET", "/v1/search", q="x"))[0] for _ in range(2)] == [200, 200]
            status, answer = await phone.call("GET", "/v1/search", q="x")  # the user's bucket, not the token's
            assert (status, answer["error"]["code"]) == (429, "rate_limited") and "searches" in answer["error"]["message"]
            assert answer["error"]["details"]["retry_after"] > 0
            assert (await phone.call("GET", "/v1/files/list", path="/"))[0] == 200  # other requests are not searches
            assert (await erin.call("GET", "/v1/search", q="x"))[0] == 200  # nor another user's searches
            async with session.get(url + "/metrics") as r:
                assert 'tessera_rate_limited_total{limit="search"} 1.0' in await r.text()
    finally:
        await runner.cleanup()


async def test_a_similar_name_has_a_word_like_each_word_of_the_query(api):
    await mkdirs(api, "/Budget 2022", "/budget notes", "/Meeting plan", "/Plans for the meeting", "/meetings")
    assert await found(api, "budget 2023") == ["/Budget 2022"]  # "notes" is nothing like "2023"
    page = await search(api, "meeting plans")
    assert sorted(m["path"] for m in page["matches"]) == ["/Meeting plan", "/Plans for the meeting"]
    assert {m["match"] for m in page["matches"]} == {"similar"}
    assert set(await found(api, "meting")) == {"/Meeting plan", "/Plans for the meeting"}  # a typo


@pytest.mark.parametrize("q", ["--", "...", "%_\\", "a|b(", "[", "(2", "x" * 255, "----- abcd", "\\\\d+", "'; DROP", "👍🏽"])
async def test_queries_of_special_characters_are_taken_literally(api, q):
    await mkdirs(api, "/a%_\\b", "/100%_done", "/-- notes --", "/a|b(c)", "/[draft]", "/x (2)", "/abcd-----")
    page = await search(api, q)
    for m in page["matches"]:  # whatever matches holds the query, or a word like each of its words
        assert m["match"] == "similar" or q.casefold() in m["name"].casefold() or len(q) < 3
    if q in ("%_\\", "a|b(", "[", "--"):
        assert [m["name"] for m in page["matches"]][:1] == {"%_\\": ["a%_\\b"], "a|b(": ["a|b(c)"],
                                                           "[": ["[draft]"], "--": ["-- notes --"]}[q]  # fmt: skip
