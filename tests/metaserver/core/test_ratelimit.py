"""Rate limits of the metadata server (metaserver/core/ratelimit.py): per token, and on login."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from metaserver.core.ratelimit import RateLimiter
from tests.conftest import start_site


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_the_rate():
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.5)  # one token comes back every half second
    assert limiter.take("other") == 0.0  # keys do not share a bucket
    clock.now += 0.5
    assert limiter.take("k") == 0.0
    assert limiter.take("k") == pytest.approx(0.5)
    clock.now += 100  # a long pause refills up to the burst, not beyond
    assert [limiter.take("k") for _ in range(4)][-1] > 0


def test_give_back_and_bounded_memory():
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock, max_keys=3)
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    limiter.give_back("a")
    assert limiter.take("a") == 0.0
    for key in "bcde":
        limiter.take(key)
    assert len(limiter) == 3  # the least recently used keys were dropped
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)


@pytest.fixture
async def limited(server_config, pool):
    """A metadata server with small limits: 2 requests/s burst 3 per token, 2 failed logins then 1/s."""
    from metaserver.app import create_app
    from metaserver.core.users import create_user

    config = replace(
        server_config, block_urls=("http://127.0.0.1:9",), rate_limit=2.0, rate_burst=3,
        login_rate_limit=1.0, login_burst=2,
    )
    async with pool.acquire() as conn:
        await create_user(conn, "alice", "pw-alice")
        await create_user(conn, "bob", "pw-bob-long")
    runner, url = await start_site(create_app(config))
    async with aiohttp.ClientSession() as session:
        yield url, session
    await runner.cleanup()


async def _login(url, session, user, password):
    async with session.post(f"{url}/v1/auth/login", json={"user": user, "password": password}) as r:
        return r.status, await r.json(), r.headers.get("Retry-After")


async def _account(url, session, token):
    async with session.get(f"{url}/v1/account", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json(), r.headers.get("Retry-After")


async def test_each_token_has_its_own_bucket(limited):
    url, session = limited
    tokens = [(await _login(url, session, "alice", "pw-alice"))[1]["token"] for _ in range(2)]
    answers = [await _account(url, session, tokens[0]) for _ in range(4)]
    assert [a[0] for a in answers] == [200, 200, 200, 429]
    status, body, retry_after = answers[-1]
    assert body["error"]["code"] == "rate_limited"
    assert retry_after == "1" and 0 < body["error"]["details"]["retry_after"] <= 0.5
    assert (await _account(url, session, tokens[1]))[0] == 200  # another device of the same user
    await asyncio.sleep(body["error"]["details"]["retry_after"] + 0.05)
    assert (await _account(url, session, tokens[0]))[0] == 200
    # unauthenticated endpoints are not limited per token
    for _ in range(5):
        async with session.get(f"{url}/v1/health") as r:
            assert r.status == 200


async def test_failed_logins_are_limited_per_address_and_user(limited):
    url, session = limited
    answers = [await _login(url, session, "alice", "wrong") for _ in range(3)]
    assert [a[0] for a in answers] == [401, 401, 429]
    assert answers[-1][1]["error"]["code"] == "rate_limited" and answers[-1][2] == "1"
    # the right password does not get through either until the bucket refills
    assert (await _login(url, session, "alice", "pw-alice"))[0] == 429
    # guessing another user's password has its own budget
    assert (await _login(url, session, "bob", "wrong"))[0] == 401
    await asyncio.sleep(1.05)
    assert (await _login(url, session, "alice", "pw-alice"))[0] == 200


async def test_successful_logins_do_not_count(limited):
    url, session = limited
    for _ in range(5):
        status, body, _ = await _login(url, session, "bob", "pw-bob-long")
        assert status == 200, body


async def test_limits_off(server_config, pool):
    from metaserver.app import create_app
    from metaserver.core.users import create_user

    config = replace(server_config, block_urls=("http://127.0.0.1:9",), rate_limit=0, login_rate_limit=0)
    async with pool.acquire() as conn:
        await create_user(conn, "carol", "pw-carol-long")
    runner, url = await start_site(create_app(config))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(15):
                assert (await _login(url, session, "carol", "wrong"))[0] == 401
    finally:
        await runner.cleanup()
