"""A member's share links into a shared folder stop with their access: removed, left, or their
account deleted, the link answers 410 at once (metaserver/links/store.revoke_made_by); the
owner's and other members' links go on."""

from __future__ import annotations

import pytest

from tests.metaserver.sharing.conftest import join
from tests.metaserver.uploads.test_sessions import upload


async def opened(api, url: str) -> int:
    """The status of the link's page, asked of this test's server (the URL names the public one)."""
    async with api.session.get(api.url + "/s/" + url.rsplit("/s/", 1)[1], allow_redirects=False) as r:
        return r.status


@pytest.mark.parametrize("how", ["remove", "leave", "delete"])
async def test_a_members_links_stop_with_their_access(people, pool, how):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    await upload(alice, pool, "/Team/plan.bin", b"the plan")
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    for name, api in (("bob", bob), ("carol", carol)):
        await join(alice, api, "/Team", name, "editor")
    links = {}
    for name, api in (("alice", alice), ("bob", bob), ("carol", carol)):
        links[name] = (await api.ok("POST", "/v1/links", {"path": "/Team/plan.bin"}))["url"]
    mine = (await bob.ok("POST", "/v1/links", {"path": "/"}))["url"]  # of bob's own folders (empty home)
    assert [await opened(bob, links[n]) for n in ("alice", "bob", "carol")] == [200, 200, 200]

    if how == "remove":
        await alice.ok("POST", "/v1/shares/remove", {"path": "/Team", "user": "bob"})
    elif how == "leave":
        await bob.ok("POST", "/v1/shares/leave", {"path": "/Team"})
    else:
        from metaserver.core.users import delete_user

        async with pool.acquire() as conn:
            await delete_user(conn, "bob")
    assert [await opened(alice, links[n]) for n in ("alice", "bob", "carol")] == [200, 410, 200]
    assert await opened(alice, mine) == (404 if how == "delete" else 200)  # bob's own: his as long as he is
    # the owner sees bob's link turned off among the share's links (not when bob's account is gone with it)
    states = sorted(link["state"] for link in (await alice.ok("GET", "/v1/links"))["links"])
    assert states == ["active", "active", "revoked"]
