"""The metadata server's periodic pruning (metaserver/lifecycle/periodic.py)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp

from tests.blockserver.gc.conftest import write
from tests.conftest import start_site
from tests.faults.conftest import eventually
from tests.metaserver.core.test_metrics import scrape, value


async def test_metadata_server_prunes_periodically(env, tmp_path):
    from metaserver.app import create_app as create_meta_app

    await env.client.upload_file(write(tmp_path, "f", b"deleted long ago"), "/old.txt")
    await env.client.delete("/old.txt")
    await env.pool.execute("UPDATE trash SET deleted_at = deleted_at - interval '31 days'")

    async def purged() -> bool:
        return await env.pool.fetchval("SELECT count(*) FROM trash") == 0

    # a second metadata server process, pruning every 0.3 s
    runner, url = await start_site(create_meta_app(replace(env.config, prune_interval=0.3)))
    try:
        await eventually(purged, "the periodic pruner to purge the expired trash")
        async with aiohttp.ClientSession() as http:

            async def counted() -> bool:  # the report reaches the metrics once the run has returned
                return value(await scrape(http, url), "tessera_prune_runs_total", result="ok") >= 1

            await eventually(counted, "the pruning run to be counted")
            samples = await scrape(http, url)
    finally:
        await runner.cleanup()
    assert (await env.client.usage()).used_bytes == 0
    # its work in /metrics (deploy/grafana's "Pruning" panel)
    assert value(samples, "tessera_prune_files_purged_total") == 1
    assert value(samples, "tessera_prune_freed_bytes_total") == len(b"deleted long ago")
    assert "tessera_prune_versions_total" in samples
