"""A block store on a full disk: 507 ``insufficient_storage`` with a clear message, and the CLI says
the server is out of space (before: a bare 500 ``internal`` and a traceback in the server log).

The store lives on a real, tiny file system (a 1 MiB tmpfs mounted for the test); where mounting
is not allowed the test is skipped.
"""

from __future__ import annotations

import io
import logging
import subprocess
import uuid
from dataclasses import replace

import aiohttp
import pytest

from protocol import grants
from protocol.hashing import hash_block
from tests.client.cli.cli_run import Tessera, login
from tests.client.conftest import PASSWORD, USER, write_random


@pytest.fixture
def tiny_fs(tmp_path):
    where = tmp_path / "tiny"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def server_config(server_config, tiny_fs):
    return replace(server_config, blocks_dir=tiny_fs / "blocks")


async def test_a_full_disk_is_507_and_the_cli_says_so(servers, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    await servers.add_user(USER, PASSWORD)
    token = await servers.login(USER, PASSWORD)
    data = write_random(tmp_path / "big.bin", 3 * 1024 * 1024, seed=5).read_bytes()

    # one block PUT straight to the block server
    block_id = uuid.uuid4().hex
    h = hash_block(data)
    async with servers.pool.acquire() as conn:
        user_id = await conn.fetchval("SELECT id FROM users WHERE name = $1", USER)
        await conn.execute(
            "INSERT INTO blocks (id, owner_id, size, md5, sha256) VALUES ($1, $2, $3, $4, $5)",
            block_id, user_id, h.size, bytes.fromhex(h.md5), bytes.fromhex(h.sha256),
        )  # fmt: skip
    g = grants.sign(grants.Grant(grants.PUT, block_id, user_id, h.size, h.md5, h.sha256, 2**40),
                    servers.config.grant_secret)  # fmt: skip
    async with aiohttp.ClientSession() as s:
        async with s.put(f"{servers.block_url}/v1/blocks/{block_id}", data=io.BytesIO(data),
                         headers={"Authorization": f"Bearer {token}", "X-Tessera-Grant": g}) as r:  # fmt: skip
            answer = await r.json()
    assert r.status == 507, answer
    assert answer["error"]["code"] == "insufficient_storage"
    assert "out of storage space" in answer["error"]["message"]
    assert not list((servers.config.blocks_dir).rglob(f"*{block_id}*"))  # no temp file left behind

    # and the CLI
    work = tmp_path / "work"
    work.mkdir()
    tessera = Tessera(tmp_path / "config", work)
    await login(tessera, servers)
    r = await tessera("put", str(tmp_path / "big.bin"), "/big.bin")
    r.assert_one_line_error("insufficient_storage")
    assert "out of storage space" in r.err
    assert not [rec for rec in caplog.records if rec.exc_info], [rec.getMessage() for rec in caplog.records]
