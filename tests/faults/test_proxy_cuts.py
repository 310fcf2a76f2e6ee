"""Connections cut mid-block by a proxy: uploads and downloads still complete, byte for byte."""

from __future__ import annotations

from protocol.hashing import BLOCK_SIZE
from tests.faults.conftest import sha256_of, write_file

SIZE = 2 * BLOCK_SIZE + 1_000_003  # three blocks, the last one short


async def test_upload_survives_connections_cut_mid_block(stack, tmp_path, server_errors):
    src = write_file(tmp_path / "src.bin", SIZE)
    # the first three block connections die after 1 MiB of their request went up
    stack.proxy.cut(after=1 << 20, connections=3, direction="up")
    async with stack.client(transfer_concurrency=2) as client:
        result = await client.upload_file(src, "/big.bin")
        assert stack.proxy.cuts == 3
        assert result.blocks_sent == 3 and result.metadata.size == SIZE
        out = tmp_path / "out.bin"
        await client.download_file("/big.bin", out)
    assert sha256_of(out) == sha256_of(src)
    # a client going away mid-body is no server error
    assert server_errors() == []


async def test_download_survives_connections_cut_mid_block(stack, tmp_path, server_errors):
    src = write_file(tmp_path / "src.bin", SIZE, seed=2)
    async with stack.client() as client:
        await client.upload_file(src, "/big.bin")
    # the next three connections die after 1.5 MiB of a block came down
    stack.proxy.cut(after=3 << 19, connections=3, direction="down")
    out = tmp_path / "out.bin"
    async with stack.client(transfer_concurrency=2) as client:  # new connections
        await client.download_file("/big.bin", out)
    assert stack.proxy.cuts == 3
    assert sha256_of(out) == sha256_of(src)
    assert server_errors() == []
