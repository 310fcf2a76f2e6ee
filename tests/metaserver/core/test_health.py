"""Liveness and readiness on every port: the block server is not ready when its S3 store cannot be
reached; the notify port answers health and metrics; results are cached a few seconds."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import aiohttp

from metaserver.core.health import READY_TTL, RETRY_TTL, Readiness
from metaserver.keys import NOTIFY_SERVER
from tests.blockserver.conftest import S3_KEY, S3_REGION, S3_SECRET, create_bucket, s3_store_for
from tests.conftest import start_site


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(url) as r:
        return r.status, await r.json()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _s3(config, endpoint: str, bucket: str):
    return replace(config, extra={
        "gc_interval": 0, "s3_bucket": bucket, "s3_endpoint": endpoint, "s3_region": S3_REGION,
        "s3_access_key": S3_KEY, "s3_secret_key": S3_SECRET,
    })  # fmt: skip


async def test_a_block_server_whose_s3_cannot_be_reached_is_live_but_not_ready(server_config):
    from blockserver.app import create_app

    runner, url = await start_site(create_app(_s3(server_config, f"http://127.0.0.1:{_closed_port()}", "gone")))
    try:
        async with aiohttp.ClientSession() as http:
            assert await _get(http, url + "/v1/health/live") == (200, {"ok": True})
            started = time.monotonic()
            status, body = await _get(http, url + "/v1/health/ready")
            assert time.monotonic() - started < 8
            assert status == 503 and body["ok"] is False and body["error"]["code"] == "unavailable"
            assert body["checks"]["database"] == "ok" and body["checks"]["store"] != "ok"
            assert (await _get(http, url + "/v1/health"))[0] == 503
    finally:
        await runner.cleanup()


async def test_a_block_server_on_a_reachable_bucket_is_ready(server_config, moto_endpoint):
    from blockserver.app import create_app

    store = s3_store_for(moto_endpoint)
    async with store:
        await create_bucket(store)
        runner, url = await start_site(create_app(_s3(server_config, moto_endpoint, store.bucket)))
        try:
            async with aiohttp.ClientSession() as http:
                assert await _get(http, url + "/v1/health/ready") == (
                    200, {"ok": True, "checks": {"database": "ok", "store": "ok"}}
                )  # fmt: skip
            assert [b async for b in store.list_ids()] == []  # the probe block is gone again
        finally:
            await runner.cleanup()


async def test_the_notify_port_answers_health_and_metrics(servers):
    from metaserver.app import create_app

    app = create_app(servers.config)
    runner, _ = await start_site(app)
    notify = f"http://127.0.0.1:{app[NOTIFY_SERVER].port}"
    try:
        async with aiohttp.ClientSession() as http:
            assert await _get(http, notify + "/v1/health/live") == (200, {"ok": True})
            ready = (200, {"ok": True, "checks": {"database": "ok", "journal_listener": "ok"}})
            assert await _get(http, notify + "/v1/health/ready") == ready
            assert await _get(http, notify + "/v1/health") == ready
            async with http.get(notify + "/metrics") as r:
                assert r.status == 200 and "tessera_notify_requests_total" in await r.text()
            status, body = await _get(http, notify + "/v1/elsewhere")
            assert (status, body["error"]["code"]) == (404, "not_found")
    finally:
        await runner.cleanup()


async def test_readiness_is_cached_and_a_failure_is_retried_soon():
    now = [0.0]
    calls = []
    broken = [True]

    async def check() -> None:
        calls.append(now[0])
        if broken[0]:
            raise RuntimeError("down")

    readiness = Readiness(clock=lambda: now[0])
    readiness.add("thing", check)
    assert await readiness.result() == (False, {"thing": "RuntimeError: down"})
    now[0] += RETRY_TTL / 2
    assert (await readiness.result())[0] is False and len(calls) == 1  # cached
    broken[0] = False
    now[0] += RETRY_TTL
    assert await readiness.result() == (True, {"thing": "ok"}) and len(calls) == 2
    now[0] += READY_TTL / 2
    await readiness.result()
    assert len(calls) == 2  # a pass is kept longer
    now[0] += READY_TTL
    await readiness.result()
    assert len(calls) == 3
