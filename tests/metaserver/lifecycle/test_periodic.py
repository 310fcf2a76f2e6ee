"""The metadata server's periodic pruning (metaserver/lifecycle/periodic.py)."""

from __future__ import annotations

from dataclasses import replace

from tests.blockserver.gc.conftest import write
from tests.conftest import start_site
from tests.faults.conftest import eventually


async def test_metadata_server_prunes_periodically(env, tmp_path):
    from metaserver.app import create_app as create_meta_app

    await env.client.upload_file(write(tmp_path, "f", b"deleted long ago"), "/old.txt")
    await env.client.delete("/old.txt")
    await env.pool.execute("UPDATE trash SET deleted_at = deleted_at - interval '31 days'")

    async def purged() -> bool:
        return await env.pool.fetchval("SELECT count(*) FROM trash") == 0

    # a second metadata server process, pruning every 0.3 s
    runner, _ = await start_site(create_meta_app(replace(env.config, prune_interval=0.3)))
    try:
        await eventually(purged, "the periodic pruner to purge the expired trash")
    finally:
        await runner.cleanup()
    assert (await env.client.usage()).used_bytes == 0
