"""The retry policy, against tiny aiohttp servers that fail on purpose."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable

import pytest
from aiohttp import web

from client import RetryPolicy, TesseraClient
from client.api.errors import ConnectFailed, ConnectionLost
from protocol import codec
from protocol.errors import BadRequest, Internal, QuotaExceeded, RateLimited, Unavailable
from tests.client.conftest import FAST_RETRY
from tests.conftest import start_site

ACCOUNT = {"user": "alice", "user_id": 1, "device": "d", "quota_bytes": None, "used_bytes": 0}
FOLDER = {"kind": "folder", "path": "/a", "name": "a"}


def answer(obj: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=codec.pack(obj), status=status, content_type=codec.MSGPACK, headers=headers)


def error(code: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return answer({"error": {"code": code, "message": f"test {code}"}}, status, headers)


class Script:
    """A handler that plays the given answers in order (the last one repeats) and counts hits."""

    def __init__(self, *answers: Callable[[web.Request], web.StreamResponse]) -> None:
        self.answers = answers
        self.hits = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        await request.read()
        return self.answers[min(self.hits, len(self.answers)) - 1](request)


async def serve(route: str, handler: Script, method: str = "*"):
    app = web.Application()
    app.router.add_route(method, route, handler.handle)
    return await start_site(app)


@pytest.fixture
async def site():
    runners = []

    async def start(route: str, handler: Script, method: str = "*") -> str:
        runner, url = await serve(route, handler, method)
        runners.append(runner)
        return url

    yield start
    for r in runners:
        await r.cleanup()


async def test_two_503_then_success_is_retried(site):
    script = Script(
        lambda r: error("unavailable", 503), lambda r: error("unavailable", 503), lambda r: answer(ACCOUNT)
    )
    url = await site("/v1/account", script)
    async with TesseraClient(url, "tok", retry=FAST_RETRY) as client:
        acct = await client.account()
    assert acct.user == "alice"
    assert script.hits == 3


async def test_5xx_without_a_body_is_retried(site):
    script = Script(lambda r: web.Response(status=502, text="bad gateway"), lambda r: answer(ACCOUNT))
    url = await site("/v1/account", script)
    async with TesseraClient(url, "tok", retry=FAST_RETRY) as client:
        await client.account()
    assert script.hits == 2


async def test_400_is_not_retried(site):
    script = Script(lambda r: error("bad_request", 400))
    url = await site("/v1/account", script)
    async with TesseraClient(url, "tok", retry=FAST_RETRY) as client:
        with pytest.raises(BadRequest, match="test bad_request"):
            await client.account()
    assert script.hits == 1


async def test_507_quota_is_permanent(site):
    script = Script(lambda r: error("quota_exceeded", 507))
    url = await site("/v1/account", script)
    async with TesseraClient(url, "tok", retry=FAST_RETRY) as client:
        with pytest.raises(QuotaExceeded):
            await client.account()
    assert script.hits == 1


async def test_attempts_are_bounded(site):
    script = Script(lambda r: error("unavailable", 503))
    url = await site("/v1/account", script)
    policy = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01, deadline=5)
    async with TesseraClient(url, "tok", retry=policy) as client:
        with pytest.raises(Unavailable, match="test unavailable"):
            await client.account()
    assert script.hits == 4


async def test_retry_after_is_honoured(site):
    script = Script(lambda r: error("rate_limited", 429, {"Retry-After": "1"}), lambda r: answer(ACCOUNT))
    url = await site("/v1/account", script)
    async with TesseraClient(url, "tok", retry=FAST_RETRY) as client:
        started = time.monotonic()
        await client.account()
        assert time.monotonic() - started >= 0.95
    assert script.hits == 2


async def test_retry_after_beyond_the_deadline_gives_up_at_once(site):
    script = Script(lambda r: error("rate_limited", 429, {"Retry-After": "120"}), lambda r: answer(ACCOUNT))
    url = await site("/v1/account", script)
    async with TesseraClient(url, "tok", retry=FAST_RETRY) as client:
        with pytest.raises(RateLimited) as info:
            await client.account()
    assert info.value.details["retry_after"] == 120
    assert script.hits == 1


async def test_non_idempotent_request_retried_only_when_the_server_did_nothing(site):
    after_503 = Script(lambda r: error("unavailable", 503), lambda r: answer(FOLDER))
    after_500 = Script(lambda r: error("internal", 500), lambda r: answer(FOLDER))
    url_503 = await site("/v1/files/mkdir", after_503)
    url_500 = await site("/v1/files/mkdir", after_500)
    async with TesseraClient(url_503, "tok", retry=FAST_RETRY) as client:
        assert (await client.mkdir("/a")).path == "/a"
    assert after_503.hits == 2
    async with TesseraClient(url_500, "tok", retry=FAST_RETRY) as client:
        with pytest.raises(Internal):
            await client.mkdir("/a")
    assert after_500.hits == 1  # the server may have made the folder: do not repeat blindly


def _cut_connection(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


async def test_connection_lost_mid_request(site):
    idempotent = Script(_cut_connection, lambda r: answer(ACCOUNT))
    not_idempotent = Script(_cut_connection, lambda r: answer(FOLDER))
    url_get = await site("/v1/account", idempotent)
    url_post = await site("/v1/files/mkdir", not_idempotent)
    async with TesseraClient(url_get, "tok", retry=FAST_RETRY) as client:
        await client.account()
    assert idempotent.hits == 2
    async with TesseraClient(url_post, "tok", retry=FAST_RETRY) as client:
        with pytest.raises(ConnectionLost):
            await client.mkdir("/a")
    assert not_idempotent.hits == 1


async def test_connection_refused_is_unavailable_after_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with TesseraClient(f"http://127.0.0.1:{port}", "tok", retry=FAST_RETRY) as client:
        with pytest.raises(ConnectFailed) as info:
            await client.mkdir("/a")  # never sent, so retried even though not idempotent
    assert isinstance(info.value, Unavailable)
    assert "cannot connect" in info.value.message


async def test_block_put_retries_on_the_next_block_server(site):
    failing = Script(lambda r: error("unavailable", 503))
    working = Script(lambda r: answer({"block_id": "b" * 32, "state": "stored"}))
    url_a = await site("/v1/blocks/{id}", failing)
    url_b = await site("/v1/blocks/{id}", working)
    async with TesseraClient(url_a, "tok", retry=FAST_RETRY) as client:
        await client.put_block([url_a, url_b], 0, "b" * 32, "grant", b"data")
    assert (failing.hits, working.hits) == (1, 1)


def test_backoff_grows_with_jitter_and_stays_capped():
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=1.0, deadline=60)
    rng = random.Random(1)
    for retry, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        for _ in range(50):
            assert cap / 2 <= policy.backoff(retry, rng) <= cap


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=2, max_delay=1)
