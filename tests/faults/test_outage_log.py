"""A database outage is one WARNING line per server, and one line when it is back: no traceback
per request, however many requests meet it (this test stops a PostgreSQL cluster of its own)."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from tests.faults.conftest import eventually
from tests.faults.test_pg_restart import OwnPostgres, _status, servers_on


@pytest.fixture
async def pg():
    own = OwnPostgres()
    try:
        await own.start_first()
        yield own
    finally:
        await own.close()


async def test_a_database_outage_logs_one_warning_per_server_and_one_recovery_line(pg, tmp_path, caplog):
    block_runner, block_url, _, meta_runner, meta_url = await servers_on(pg, tmp_path)
    caplog.set_level(logging.DEBUG, logger="metaserver")
    caplog.set_level(logging.DEBUG, logger="blockserver")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(meta_url + "/v1/auth/login", json={"user": "alice", "password": "pw-alice-long"}) as r:
                token = (await r.json())["token"]
            caplog.clear()
            await pg.stop()
            statuses = set()
            for _ in range(15):
                statuses.add(await _status(http, meta_url + "/v1/account", token))
                statuses.add(await _status(http, meta_url + "/v1/files/list?path=/", token))
                statuses.add(await _status(http, block_url + "/v1/health/ready"))
                statuses.add(await _status(http, block_url + f"/v1/blocks/{'0' * 32}", token))
            assert statuses == {(503, "unavailable")}, statuses

            await pg.start()

            async def back() -> bool:
                return (await _status(http, meta_url + "/v1/account", token) == (200, None)
                        and await _status(http, block_url + "/v1/health/ready") == (200, None))  # fmt: skip

            await eventually(back, "both servers to answer again", within=20)

        ours = [r for r in caplog.records if r.name.split(".")[0] in ("metaserver", "blockserver", "aiohttp")]
        warnings = [r.getMessage() for r in ours if r.levelno >= logging.WARNING]
        assert len(warnings) == 2, warnings
        assert any(w.startswith("metadata server: database unavailable") for w in warnings), warnings
        assert any(w.startswith("block server: database unavailable") for w in warnings), warnings
        assert [r for r in ours if r.exc_info] == []  # no traceback at any level
        recovered = [r.getMessage() for r in ours if r.levelno == logging.INFO and " is back after " in r.getMessage()]
        assert len(recovered) == 2, recovered
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()
