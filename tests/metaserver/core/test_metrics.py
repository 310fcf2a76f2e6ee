"""``GET /metrics`` on the metadata port, the block port and the notify port: the issue's series,
scraped after real traffic and parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import replace

import aiohttp
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from client import TesseraClient
from metaserver.core.metrics import METRICS, MetaMetrics
from metaserver.keys import NOTIFY_SERVER
from protocol import grants
from protocol.hashing import BLOCK_SIZE, hash_block
from tests.conftest import start_site


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """sample name -> [(labels, value)]"""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == w for k, w in labels.items()))


async def scrape(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url + "/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=")
        return parse(await r.text())


async def _wrong_hash_put(http: aiohttp.ClientSession, block_url: str, config, pool, user_id: int, token: str) -> None:
    """A PUT whose bytes are not the ones granted (400 hash_mismatch)."""
    data = random.Random(3).randbytes(1000)
    h = hash_block(data)
    block_id = f"{random.Random(4).getrandbits(128):032x}"
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO blocks (id, owner_id, size, md5, sha256, state) VALUES ($1, $2, $3, $4, $5, 'pending')",
            block_id, user_id, h.size, bytes.fromhex(h.md5), bytes.fromhex(h.sha256),
        )  # fmt: skip
    grant = grants.sign(
        grants.Grant(grants.PUT, block_id, user_id, h.size, h.md5, h.sha256, int(time.time()) + 600),
        config.grant_secret,
    )
    headers = {"Authorization": f"Bearer {token}", "X-Tessera-Grant": grant}
    async with http.put(f"{block_url}/v1/blocks/{block_id}", data=bytes(1000), headers=headers) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "hash_mismatch"


async def test_every_server_exposes_the_series_of_its_work(server_config, pool, tmp_path):
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user

    config = replace(server_config, extra={"gc_interval": 0.2}, login_burst=1)
    block_runner, block_url = await start_site(create_block_app(config))
    meta_app = create_meta_app(replace(config, block_urls=(block_url,)))
    meta_runner, meta_url = await start_site(meta_app)
    notify_url = f"http://127.0.0.1:{meta_app[NOTIFY_SERVER].port}"
    try:
        async with pool.acquire() as conn:
            user_id = await create_user(conn, "alice", "pw-alice-long")
        src = tmp_path / "a.bin"
        src.write_bytes(random.Random(1).randbytes(BLOCK_SIZE + 500))
        async with TesseraClient(meta_url) as client, aiohttp.ClientSession() as http:
            token = (await client.login("alice", "pw-alice-long", "metrics")).token
            await client.upload_file(src, "/a.bin")
            await client.download_file("/a.bin", tmp_path / "back.bin")
            # a long-poll on the notify endpoint, woken by a commit
            cursor = await client.latest_cursor()
            poll = asyncio.create_task(client.longpoll(cursor, timeout=30))
            await asyncio.sleep(0.3)
            await client.mkdir("/woken")
            assert (await asyncio.wait_for(poll, 10)).changes
            await _wrong_hash_put(http, block_url, config, pool, user_id, token)
            for _ in range(2):  # the second failed login is over the burst of 1: 429
                async with http.post(meta_url + "/v1/auth/login", json={"user": "alice", "password": "no"}) as r:
                    last = r.status
            assert last == 429
            async with http.get(meta_url + "/v1/files/meta", params={"path": "/a.bin"}) as r:
                assert r.status == 401

            async def gc_ran() -> bool:
                return value(await scrape(http, block_url), "tessera_gc_runs_total", result="ok") >= 1

            for _ in range(100):
                if await gc_ran():
                    break
                await asyncio.sleep(0.1)
            meta, block, notify = [await scrape(http, u) for u in (meta_url, block_url, notify_url)]
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()

    # requests by route (the template, never the raw path) and status, with latency histograms
    assert value(meta, "tessera_http_requests_total", method="POST", route="/v1/uploads", status="200") == 1
    assert value(meta, "tessera_http_requests_total", route="/v1/uploads/{upload_id}/commit", status="200") == 1
    assert value(meta, "tessera_http_requests_total", route="/v1/files/meta", status="401") == 1
    assert value(block, "tessera_http_requests_total", method="PUT", route="/v1/blocks/{block_id}", status="200") == 2
    assert value(block, "tessera_http_requests_total", method="PUT", route="/v1/blocks/{block_id}", status="400") == 1
    for samples in (meta, block):
        routes = {lab["route"] for lab, _ in samples["tessera_http_requests_total"]}
        assert not any(re.search(r"[0-9a-f]{32}", r) for r in routes), routes  # bounded cardinality
    assert value(meta, "tessera_http_request_duration_seconds_count", route="/v1/uploads") == 1
    assert value(block, "tessera_http_request_duration_seconds_bucket", route="/v1/blocks/{block_id}", le="+Inf") >= 4
    # bytes in and out; blocks stored and served; hash mismatches
    assert value(block, "tessera_http_received_bytes_total", route="/v1/blocks/{block_id}") >= BLOCK_SIZE + 500
    assert value(block, "tessera_http_sent_bytes_total", route="/v1/blocks/{block_id}") >= BLOCK_SIZE + 500
    assert value(meta, "tessera_http_sent_bytes_total") > 0
    assert value(block, "tessera_blocks_stored_total") == 2
    assert value(block, "tessera_block_stored_bytes_total") == BLOCK_SIZE + 500
    assert value(block, "tessera_blocks_served_total") == 2
    assert value(block, "tessera_block_served_bytes_total") == BLOCK_SIZE + 500
    assert value(block, "tessera_hash_mismatches_total", kind="md5") == 1
    assert value(block, "tessera_hash_mismatches_total", kind="sha256") == 1
    # commits and their latency
    assert value(meta, "tessera_commits_total", result="ok") == 1
    assert value(meta, "tessera_commit_duration_seconds_count", kind="single") == 1
    # long-polls held and wake-up latency; the notify endpoint's own requests
    assert "tessera_longpolls_held" in meta
    assert value(meta, "tessera_longpoll_wakeup_seconds_count") >= 1
    assert value(meta, "tessera_longpolls_woken_total") >= 1
    assert value(meta, "tessera_notify_requests_total", route="/v1/changes/longpoll", status="200") >= 1
    assert value(meta, "tessera_journal_listener_up") == 1
    # the database pool
    for samples in (meta, block):
        assert value(samples, "tessera_db_pool_connections") >= 1
        assert "tessera_db_pool_in_use" in samples and "tessera_db_pool_waiting" in samples
    # garbage collection, rate-limit refusals, the process
    assert value(block, "tessera_gc_runs_total", result="ok") >= 1
    assert "tessera_gc_blocks_deleted_total" in block and "tessera_gc_sessions_expired_total" in block
    assert value(meta, "tessera_rate_limited_total", limit="login") == 1
    assert value(meta, "process_resident_memory_bytes") > 0
    # the notify port serves the same process registry as the metadata port
    assert value(notify, "tessera_commits_total", result="ok") == 1


def test_each_app_has_a_registry_of_its_own(server_config):
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app

    a, b = create_meta_app(server_config)[METRICS], create_meta_app(server_config)[METRICS]
    assert isinstance(a, MetaMetrics) and a.registry is not b.registry
    a.commits.labels("ok").inc()
    assert parse(b.exposition().decode()).get("tessera_commits_total", []) == []
    assert create_block_app(server_config)[METRICS].registry is not a.registry
    default = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "tessera_" not in default  # nothing lands in the process-wide default registry
