"""Search inside shared folders (metaserver/web/search.py with metaserver/search/scope.py): a
member finds a share's files at their own mount path, for as long as they are a member."""

from __future__ import annotations

from tests.metaserver.sharing.conftest import join
from tests.metaserver.uploads.test_sessions import upload


async def found(api, q: str, **params) -> list[str]:
    answer = await api.ok("GET", "/v1/search", q=q, **{k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()})
    return [m["path"] for m in answer["matches"]]


async def test_members_find_a_shares_files_where_they_mounted_it(people, pool):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    await upload(alice, pool, "/Team/budget-2026.xlsx", b"numbers")
    await upload(alice, pool, "/Team/plans/budget-notes.txt", b"notes")
    await upload(alice, pool, "/budget-home.txt", b"mine")
    await upload(bob, pool, "/budget-bob.txt", b"bob's own")
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    assert await join(alice, bob, "/Team", "bob", "viewer", at="/Work/From Alice") == "/Work/From Alice"

    assert sorted(await found(alice, "budget")) == ["/Team/budget-2026.xlsx", "/Team/plans/budget-notes.txt", "/budget-home.txt"]
    assert sorted(await found(bob, "budget")) == [
        "/Work/From Alice/budget-2026.xlsx", "/Work/From Alice/plans/budget-notes.txt", "/budget-bob.txt"
    ]  # fmt: skip
    # --path inside the mount, and above it
    assert await found(bob, "budget", path="/Work/From Alice/plans") == ["/Work/From Alice/plans/budget-notes.txt"]
    assert sorted(await found(bob, "budget", path="/Work")) == ["/Work/From Alice/budget-2026.xlsx", "/Work/From Alice/plans/budget-notes.txt"]
    # a page at a time across both namespaces: every match once
    first = await bob.ok("GET", "/v1/search", q="budget", limit="2")
    rest = await bob.ok("GET", "/v1/search", q="budget", limit="2", cursor=first["cursor"])
    assert first["has_more"] and not rest["has_more"]
    assert sorted(m["path"] for m in first["matches"] + rest["matches"]) == sorted(await found(bob, "budget"))
    # the trash of the share, for a member
    await alice.ok("POST", "/v1/files/delete", {"path": "/Team/budget-2026.xlsx"})
    assert "/Work/From Alice/budget-2026.xlsx" in await found(bob, "budget", deleted=True)
    # a stranger finds nothing of it
    assert await found(carol, "budget") == []

    # removed: at once, nothing of the share
    await alice.ok("POST", "/v1/shares/remove", {"path": "/Team", "user": "bob"})
    assert await found(bob, "budget") == ["/budget-bob.txt"]
    assert await found(bob, "budget", deleted=True) == ["/budget-bob.txt"]


async def test_a_share_is_found_by_its_name_where_it_is_mounted(people, pool):
    alice, bob = people["alice"], people["bob"]
    await upload(alice, pool, "/Team Rocket/plan.txt", b"the plan")
    await alice.ok("POST", "/v1/shares", {"path": "/Team Rocket"})
    await join(alice, bob, "/Team Rocket", "bob", "editor", at="/Shared/Rockets")
    assert await found(alice, "rocket") == ["/Team Rocket"]
    assert await found(bob, "rocket") == ["/Shared/Rockets"]
    assert await found(bob, "rocket", type="file") == []
    assert await found(bob, "rocket", path="/Shared") == ["/Shared/Rockets"]
    assert await found(bob, "rocket", path="/Shared/Rockets") == []  # below it, not it
    assert await found(alice, "team rocket") == ["/Team Rocket"]  # exact name, ranked first


async def test_pages_through_mount_points_and_entries_alike(people, pool):
    """Mount points take their place in the ranking: every match once, in one order, whatever the page size."""
    alice, bob = people["alice"], people["bob"]
    for name in ("Alpha", "Beta", "Gamma"):
        await upload(alice, pool, f"/{name} notes/readme.txt", b"x")
        await alice.ok("POST", "/v1/shares", {"path": f"/{name} notes"})
        await join(alice, bob, f"/{name} notes", "bob", "viewer")
    for i in range(4):
        await upload(bob, pool, f"/notes-{i}.txt", b"y")
        await upload(bob, pool, f"/my notes/{i}.md", b"z")
    everything = await found(bob, "notes")
    assert len(everything) == 3 + 4 + 1 and "/Beta notes" in everything and "/my notes" in everything
    for size in (1, 2, 3, 5):
        seen, cursor = [], None
        while True:
            params = {"q": "notes", "limit": str(size), **({"cursor": cursor} if cursor else {})}
            page = await bob.ok("GET", "/v1/search", **params)
            seen += [m["path"] for m in page["matches"]]
            cursor = page["cursor"]
            if not page["has_more"]:
                break
        assert seen == everything, size
