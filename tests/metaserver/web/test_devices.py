"""A user's devices and password: list, revoke (at once, held long-polls included), change."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.conftest import start_site
from tests.metaserver.changes.test_notify_server import Conn, latest, request
from tests.metaserver.conftest import Api


async def _login(meta: Api, device: str, user: str = "alice", password: str = "pw-alice") -> Api:
    answer = await meta.ok("POST", "/v1/auth/login", {"user": user, "password": password, "device": device})
    return Api(meta.session, meta.url, answer["token"])


async def test_devices_are_listed_with_the_current_one_marked(api):
    phone = await _login(api, "phone")
    listed = (await api.ok("GET", "/v1/devices"))["devices"]
    assert [(d["name"], d["current"]) for d in listed] == [("laptop", True), ("phone", False)]
    for d in listed:
        assert set(d) == {"id", "name", "created", "last_used", "current"}
        assert d["created"] <= d["last_used"] + 1
    assert [d["current"] for d in (await phone.ok("GET", "/v1/devices"))["devices"]] == [False, True]


async def test_a_device_cannot_revoke_another_users_device(api, pool):
    from metaserver.core.users import create_user

    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-long")
    bob = await _login(api, "bob-pc", "bob", "pw-bob-long")
    bob_id = (await bob.ok("GET", "/v1/devices"))["devices"][0]["id"]
    status, code = await api.error("POST", "/v1/devices/revoke", {"id": bob_id})
    assert (status, code) == (404, "not_found")
    assert (await bob.ok("GET", "/v1/account"))["user"] == "bob"
    for bad in ({"id": "1"}, {"id": True}, {"id": -1}, {"id": 2**63}, {}):
        assert (await api.error("POST", "/v1/devices/revoke", bad)) == (400, "bad_request")


@pytest.fixture
async def two_servers(api, server_config):
    """Two metadata server instances on one database (``api`` talks to the first); the second's
    notify port, as (url, port)."""
    from metaserver.app import create_app
    from metaserver.keys import NOTIFY_SERVER

    app = create_app(replace(server_config, block_urls=("http://127.0.0.1:9",)))
    runner, url = await start_site(app)
    try:
        yield url, app[NOTIFY_SERVER].port
    finally:
        await runner.cleanup()


async def test_revoking_ends_held_polls_at_once_on_every_server(api, two_servers):
    """A revocation on one metadata server ends the device's long-poll held by another one's
    notify port at once, and the notify port's token cache does not let it open a new one."""
    _, notify_port = two_servers
    phone = await _login(api, "phone")
    phone_id = next(d["id"] for d in (await phone.ok("GET", "/v1/devices"))["devices"] if d["current"])
    cursor = await latest(api)
    conn = await Conn.open(notify_port)
    other = await Conn.open(notify_port)
    try:
        # the phone's token is now in the notify endpoint's cache
        assert (await conn.ask(request(phone.token, cursor=""))).status == 200
        poll = asyncio.create_task(conn.ask(request(phone.token, cursor=cursor, timeout=120)))
        laptop_poll = asyncio.create_task(other.ask(request(api.token, cursor=cursor, timeout=120)))
        await asyncio.sleep(0.3)
        assert not poll.done() and not laptop_poll.done()
        answer = await api.ok("POST", "/v1/devices/revoke", {"id": phone_id})
        assert answer == {"revoked": phone_id, "current": False}
        ended = await asyncio.wait_for(poll, 5)
        assert ended.status == 401 and ended.body["error"]["code"] == "signed_out"
        assert "signed out from another device" in ended.body["error"]["message"]
        again = await conn.ask(request(phone.token, cursor=cursor, timeout=60))
        assert again.status == 401 and again.body["error"]["code"] == "signed_out"
        assert not laptop_poll.done()  # the laptop's own poll goes on
    finally:
        laptop_poll.cancel()
        await conn.close()
        await other.close()
    assert (await phone.call("GET", "/v1/account"))[0] == 401
    assert (await api.error("POST", "/v1/devices/revoke", {"id": phone_id})) == (404, "not_found")
    assert [d["name"] for d in (await api.ok("GET", "/v1/devices"))["devices"]] == ["laptop"]


async def test_revoking_ends_a_poll_held_on_the_metadata_port(api, two_servers):
    url, _ = two_servers
    phone = await _login(api, "phone")
    phone_id = next(d["id"] for d in (await phone.ok("GET", "/v1/devices"))["devices"] if d["current"])
    held = Api(api.session, url, phone.token)
    poll = asyncio.create_task(held.call("GET", "/v1/changes/longpoll", cursor=await latest(api), timeout=120))
    await asyncio.sleep(0.3)
    assert not poll.done()
    await api.ok("POST", "/v1/devices/revoke", {"id": phone_id})
    status, answer = await asyncio.wait_for(poll, 5)
    assert status == 401 and answer["error"]["code"] == "signed_out"


async def test_changing_the_password(api, meta):
    phone = await _login(api, "phone")
    body = {"old_password": "nope-nope", "new_password": "new-password-1"}
    assert await api.error("POST", "/v1/auth/password", body) == (403, "forbidden")
    body = {"old_password": "pw-alice", "new_password": "short"}
    status, answer = await api.call("POST", "/v1/auth/password", body)
    assert status == 400 and answer["error"]["code"] == "password_too_short"
    assert "at least 8 characters" in answer["error"]["message"]
    body = {"old_password": "pw-alice", "new_password": "new-password-1"}
    assert await api.ok("POST", "/v1/auth/password", body) == {"signed_out": 0}
    assert (await phone.ok("GET", "/v1/account"))["device"] == "phone"  # others stay signed in
    assert await meta.error("POST", "/v1/auth/login", {"user": "alice", "password": "pw-alice"}) == (401, "unauthorized")
    body = {"old_password": "new-password-1", "new_password": "new-password-2", "sign_out_others": True}
    assert await api.ok("POST", "/v1/auth/password", body) == {"signed_out": 1}
    status, answer = await phone.call("GET", "/v1/account")
    assert status == 401 and "password was changed" in answer["error"]["message"]
    assert (await api.ok("GET", "/v1/account"))["device"] == "laptop"
    await _login(meta, "new", password="new-password-2")


async def test_idle_tokens_expire_and_use_is_noted_at_most_hourly(api, pool, server_config):
    from metaserver.app import create_app

    token_id = (await api.ok("GET", "/v1/devices"))["devices"][0]["id"]
    # used 10 minutes ago: using it again writes nothing
    await pool.execute("UPDATE tokens SET last_used_at = now() - interval '10 minutes' WHERE id = $1", token_id)
    before = await pool.fetchval("SELECT last_used_at FROM tokens WHERE id = $1", token_id)
    await api.ok("GET", "/v1/account")
    assert await pool.fetchval("SELECT last_used_at FROM tokens WHERE id = $1", token_id) == before
    # used 2 hours ago: noted now
    await pool.execute("UPDATE tokens SET last_used_at = now() - interval '2 hours' WHERE id = $1", token_id)
    await api.ok("GET", "/v1/account")
    assert await pool.fetchval("SELECT now() - last_used_at < interval '1 minute' FROM tokens WHERE id = $1", token_id)
    # unused for 91 days: signed out (the default idle expiry is 90 days)
    await pool.execute("UPDATE tokens SET last_used_at = now() - interval '91 days' WHERE id = $1", token_id)
    status, answer = await api.call("GET", "/v1/account")
    assert status == 401 and answer["error"]["code"] == "signed_out"
    assert "not used for 90 days" in answer["error"]["message"]
    # a server configured for a longer idle period takes it
    runner, url = await start_site(create_app(replace(server_config, block_urls=("http://127.0.0.1:9",),
                                                      token_idle_expiry=100 * 86400)))  # fmt: skip
    try:
        assert (await Api(api.session, url, api.token).ok("GET", "/v1/account"))["user"] == "alice"
    finally:
        await runner.cleanup()
