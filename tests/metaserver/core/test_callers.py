"""Who makes a request, and the notify endpoint's short memory of tokens it has checked."""

import pytest

from metaserver.core.callers import TokenCache, authenticate_header
from protocol.errors import Unauthorized


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_checked_token_is_trusted_for_the_ttl_then_checked_again(api, pool):
    clock = Clock()
    cache = TokenCache(ttl=10.0, clock=clock)
    header = f"Bearer {api.token}"
    ctx = await cache.authenticate(pool, header)
    assert ctx == await authenticate_header(pool, header)
    await pool.execute("UPDATE tokens SET revoked_at = now()")  # e.g. `tessera logout` elsewhere
    with pytest.raises(Unauthorized):
        await authenticate_header(pool, header)
    clock.now += 9.9
    assert await cache.authenticate(pool, header) == ctx  # the documented bound: up to ttl
    clock.now += 0.2
    with pytest.raises(Unauthorized):
        await cache.authenticate(pool, header)
    with pytest.raises(Unauthorized):  # a refused token is not remembered either
        await cache.authenticate(pool, header)


async def test_unknown_and_malformed_tokens_are_refused(api, pool):
    cache = TokenCache()
    for header in (None, "Basic abc", "Bearer not-a-token"):
        with pytest.raises(Unauthorized):
            await cache.authenticate(pool, header)


async def test_the_cache_is_bounded(api, pool):
    clock = Clock()
    cache = TokenCache(ttl=10.0, max_entries=1, clock=clock)
    await cache.authenticate(pool, f"Bearer {api.token}")
    second = await api.ok(
        "POST", "/v1/auth/login", {"user": "alice", "password": "pw-alice", "device": "phone"}
    )
    await cache.authenticate(pool, f"Bearer {second['token']}")
    assert len(cache) == 1
