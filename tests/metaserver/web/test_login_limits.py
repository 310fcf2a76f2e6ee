"""Login under a flood: the password-hashing work is bounded, failed logins are limited per
address across user names, and unknown names cost what known ones do."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import aiohttp
import pytest

from protocol import codec
from tests.conftest import start_site

#: the attacker and the real user reach the server from two loopback addresses
ATTACKER = "127.0.0.1"
REAL_USER = "127.0.0.2"


def _session(source: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0), limit=0))


async def _login(session: aiohttp.ClientSession, url: str, user: str, password: str) -> tuple[int, dict, dict]:
    body = codec.pack({"user": user, "password": password, "device": "d"})
    headers = {"Content-Type": codec.MSGPACK, "Accept": codec.MSGPACK}
    async with session.post(url + "/v1/auth/login", data=body, headers=headers) as r:
        return r.status, codec.unpack(await r.read()), dict(r.headers)


@pytest.fixture
async def login_server(server_config, pool):
    """The metadata server with the default login limits and user alice."""
    from metaserver.app import create_app
    from metaserver.core.settings import ServerSettings
    from metaserver.core.users import create_user

    defaults = ServerSettings(database_url="", grant_secret=b"")
    config = replace(
        server_config,
        block_urls=("http://127.0.0.1:9",),
        login_rate_limit=defaults.login_rate_limit,
        login_burst=defaults.login_burst,
    )
    async with pool.acquire() as conn:
        await create_user(conn, "alice", "pw-alice-long")
    runner, url = await start_site(create_app(config))
    yield url
    await runner.cleanup()


async def test_a_flood_of_unknown_names_does_not_slow_a_real_login(login_server):
    """60 concurrent logins with distinct unknown names took a real login from 0.08 s to 3.5 s."""
    url = login_server
    async with _session(REAL_USER) as real:
        started = time.perf_counter()
        status, _, _ = await _login(real, url, "alice", "pw-alice-long")
        quiet = time.perf_counter() - started
        assert status == 200
    async with _session(ATTACKER) as attacker, _session(REAL_USER) as real:
        flood = [asyncio.create_task(_login(attacker, url, f"nobody-{i}", "guess")) for i in range(60)]
        await asyncio.sleep(0.05)  # the flood is queued
        started = time.perf_counter()
        status, answer, _ = await _login(real, url, "alice", "pw-alice-long")
        loaded = time.perf_counter() - started
        results = await asyncio.gather(*flood)
    print(f"real login: {quiet:.3f} s quiet, {loaded:.3f} s under 60 concurrent unknown-name logins")
    assert status == 200, answer
    assert loaded < max(1.0, 5 * quiet), f"a real login took {loaded:.2f} s under the flood ({quiet:.2f} s quiet)"
    statuses = sorted({s for s, _, _ in results})
    assert set(statuses) <= {401, 429, 503}, statuses
    assert 401 in statuses and (429 in statuses or 503 in statuses), statuses
    for s, _, headers in results:
        if s in (429, 503):
            assert int(headers["Retry-After"]) >= 1


async def test_failed_logins_are_limited_per_address_across_user_names(server_config, pool):
    """One address trying one password on many names is stopped, not only one name at a time."""
    from metaserver.app import create_app

    config = replace(server_config, block_urls=("http://127.0.0.1:9",), login_address_rate_limit=0.01,
                     login_address_burst=5, login_rate_limit=0.01, login_burst=10)  # fmt: skip
    runner, url = await start_site(create_app(config))
    try:
        async with _session(ATTACKER) as attacker, _session(REAL_USER) as other:
            statuses = [(await _login(attacker, url, f"name-{i}", "guess"))[0] for i in range(8)]
            assert statuses == [401] * 5 + [429] * 3, statuses
            status, answer, headers = await _login(attacker, url, "name-new", "guess")
            assert status == 429 and answer["error"]["code"] == "rate_limited"
            assert "from this address" in answer["error"]["message"] and int(headers["Retry-After"]) >= 1
            # another address is not held back
            assert (await _login(other, url, "name-0", "guess"))[0] == 401
    finally:
        await runner.cleanup()


async def test_an_unknown_name_costs_what_a_wrong_password_costs(login_server, pool):
    """No user enumeration by timing: both verify one hash with the same parameters.

    The parameters are compared exactly; the times by their minimum over interleaved tries (load
    from other processes only adds time, so the minimum is what the work itself costs)."""
    from argon2 import extract_parameters

    from metaserver.core.passwords import HashQueue

    url = login_server
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE name = 'alice'")
    assert extract_parameters(await HashQueue().dummy()) == extract_parameters(stored)

    async def timed(user: str) -> float:
        started = time.perf_counter()
        status, _, _ = await _login(real, url, user, "wrong-password")
        assert status == 401
        return time.perf_counter() - started

    async with _session(REAL_USER) as real:
        known, unknown = [], []
        for i in range(5):
            known.append(await timed("alice"))
            unknown.append(await timed(f"ghost-{i}"))
    k, u = min(known), min(unknown)
    print(f"fastest failed login: known name {k * 1000:.1f} ms, unknown name {u * 1000:.1f} ms")
    assert 0.5 < u / k < 2.0, (known, unknown)
    assert u > 0.005  # a hash was computed, not skipped


async def test_the_hash_queue_refuses_beyond_its_size_with_retry_after(server_config, pool):
    """Beyond the queue, a login is answered 503 at once (with Retry-After), not queued."""
    from metaserver.app import create_app

    config = replace(server_config, block_urls=("http://127.0.0.1:9",), login_queue=2,
                     login_address_rate_limit=0, login_rate_limit=0)  # fmt: skip
    runner, url = await start_site(create_app(config))
    try:
        async with _session(ATTACKER) as attacker:
            results = await asyncio.gather(*(_login(attacker, url, f"n{i}", "guess") for i in range(12)))
    finally:
        await runner.cleanup()
    busy = [(s, a, h) for s, a, h in results if s == 503]
    assert busy and all(a["error"]["code"] == "unavailable" and h["Retry-After"] == "1" for _, a, h in busy)
    assert {s for s, _, _ in results} == {401, 503}
