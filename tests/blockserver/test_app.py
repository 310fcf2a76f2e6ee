"""The block server application: routes, health, and the resources it owns."""

from __future__ import annotations

import aiohttp

from blockserver.app import create_app
from protocol import grants
from tests.conftest import start_site

from .conftest import (
    S3_KEY,
    S3_REGION,
    S3_SECRET,
    random_bytes,
    run_block_server,
    s3_store_for,
    with_settings,
)


async def _get_json(url: str, method: str = "GET") -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.request(method, url) as r:
        return r.status, await r.json()


async def test_health(server_config):
    runner, url = await start_site(create_app(server_config))
    try:
        ready = (200, {"ok": True, "checks": {"database": "ok", "store": "ok"}})
        assert await _get_json(f"{url}/v1/health") == ready
        assert await _get_json(f"{url}/v1/health/ready") == ready
        assert await _get_json(f"{url}/v1/health/live") == (200, {"ok": True})
    finally:
        await runner.cleanup()


async def test_unknown_routes_and_methods_answer_in_the_error_format(server_config):
    runner, url = await start_site(create_app(server_config))
    try:
        status, body = await _get_json(f"{url}/v1/nothing-here")
        assert (status, body["error"]["code"]) == (404, "not_found")
        status, body = await _get_json(f"{url}/v1/blocks/{'0' * 32}", method="POST")
        assert (status, body["error"]["code"]) == (400, "bad_request")
    finally:
        await runner.cleanup()


async def test_app_without_a_store_keeps_blocks_where_the_config_says(server_config, pool):
    from blockserver.stores.local import LocalStore

    # the app builds, starts and closes its own store; a second LocalStore looks at the same files
    view = LocalStore(server_config.blocks_dir)
    async for server in run_block_server(server_config, view, pool, app_owns_store=True):
        data = random_bytes(1000)
        block_id = await server.upload(data)
        assert (server_config.blocks_dir / block_id[:2] / block_id).read_bytes() == data
        r = await server.get(block_id, server.grant(grants.GET, block_id))
        assert r.body == data


async def test_app_with_s3_settings_uses_the_bucket(server_config, pool, moto_endpoint, aws_session):
    async with s3_store_for(moto_endpoint, aws_session, prefix="t") as view:
        await view.client.create_bucket(Bucket=view.bucket)
        config = with_settings(
            server_config,
            s3_bucket=view.bucket,
            s3_endpoint=moto_endpoint,
            s3_region=S3_REGION,
            s3_access_key=S3_KEY,
            s3_secret_key=S3_SECRET,
            s3_prefix="t",
        )
        async for server in run_block_server(config, view, pool, app_owns_store=True):
            data = random_bytes(1000)
            block_id = await server.upload(data)
            assert await view.exists(block_id)
            assert await view.client.head_object(Bucket=view.bucket, Key=f"t/{block_id}")
            r = await server.get(block_id, server.grant(grants.GET, block_id))
            assert r.body == data
        assert not server_config.blocks_dir.exists()  # nothing went to local disk
