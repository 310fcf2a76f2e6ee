"""Expired block grants are refreshed, once for all workers (put and get grants live 1 s here)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from client.transfer.filehash import hash_file
from protocol.errors import GrantExpired
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import write_random


@pytest.fixture
def server_config(server_config):
    return replace(server_config, put_grant_ttl=1, get_grant_ttl=1)


class _StallAfter:
    """A progress sink that stalls (on purpose blocking everything) until grants have expired."""

    def __init__(self, phase_name: str) -> None:
        self.phase_name = phase_name

    def phase(self, name: str, total: int) -> None:
        if name == self.phase_name:
            time.sleep(2.1)

    def advance(self, nbytes: int) -> None:
        pass


async def test_expired_grants_are_refreshed(client, tmp_path, caplog):
    src = write_random(tmp_path / "slow.bin", 3 * BLOCK_SIZE + 1, seed=9)
    # the session's grants expire while the "upload" phase stalls; the PUTs then get 403 grant_expired
    with caplog.at_level("INFO", logger="client.transfer.upload.blocks"):
        result = await client.upload_file(src, "/slow.bin", progress=_StallAfter("upload"))
    assert result.blocks_sent == 4
    assert sum("grants expired" in r.getMessage() for r in caplog.records) == 1  # one refresh for all workers

    out = tmp_path / "slow.out"
    await client.download_file("/slow.bin", out, progress=_StallAfter("download"))
    assert out.read_bytes() == src.read_bytes()


async def test_expired_grant_is_refused_by_the_block_server(client, tmp_path):
    src = write_random(tmp_path / "x.bin", 10, seed=1)
    hashed = hash_file(src)
    session = await client.create_upload("/x.bin", hashed.size, hashed.blocks)
    await asyncio.sleep(2.1)
    (block,) = session.blocks
    with pytest.raises(GrantExpired):
        await client.put_block(session.block_servers, 0, block.block_id, block.grant, src.read_bytes())
