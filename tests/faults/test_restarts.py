"""Servers restarted in the middle of a transfer (aiohttp runner stopped, a new one started on
the same port): the client's retries carry the transfer through, and the file is intact."""

from __future__ import annotations

import asyncio

from protocol.hashing import BLOCK_SIZE
from tests.faults.conftest import sha256_of, write_file

SIZE = 3 * BLOCK_SIZE + 12_345


async def _paused_mid_transfer(stack, transfer) -> asyncio.Task:
    task = asyncio.create_task(transfer)
    paused = asyncio.create_task(stack.proxy.paused.wait())
    done, _ = await asyncio.wait({task, paused}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    paused.cancel()
    if not stack.proxy.paused.is_set():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError(f"the transfer did not reach the pause point: {done}")
    assert not task.done()  # the server is restarted with the transfer under way
    return task


async def test_upload_survives_block_server_restart(stack, tmp_path):
    src = write_file(tmp_path / "src.bin", SIZE)
    # stop the bytes half-way through the second block, restart the block server there
    stack.proxy.pause_at(BLOCK_SIZE + BLOCK_SIZE // 2)
    async with stack.client(transfer_concurrency=1) as client:
        upload = await _paused_mid_transfer(stack, client.upload_file(src, "/f.bin"))
        old_runner = stack.block.runner
        await stack.block.restart()
        assert stack.block.runner is not old_runner
        stack.proxy.resume()
        result = await asyncio.wait_for(upload, 30)
        assert result.metadata.size == SIZE and result.blocks_sent == 4
        out = tmp_path / "out.bin"
        await client.download_file("/f.bin", out)
    assert sha256_of(out) == sha256_of(src)


async def test_upload_survives_metadata_server_restart(stack, tmp_path):
    src = write_file(tmp_path / "src.bin", SIZE, seed=3)
    stack.proxy.pause_at(2 * BLOCK_SIZE + 100)
    async with stack.client(transfer_concurrency=1) as client:
        upload = await _paused_mid_transfer(stack, client.upload_file(src, "/f.bin"))
        # the session was opened on the old instance; the commit goes to the new one
        await stack.meta.restart()
        stack.proxy.resume()
        result = await asyncio.wait_for(upload, 30)
        assert result.metadata.size == SIZE
        out = tmp_path / "out.bin"
        await client.download_file("/f.bin", out)
    assert sha256_of(out) == sha256_of(src)


async def test_download_survives_block_server_restart(stack, tmp_path):
    src = write_file(tmp_path / "src.bin", SIZE, seed=4)
    async with stack.client() as client:
        await client.upload_file(src, "/f.bin")
    out = tmp_path / "out.bin"
    stack.proxy.pause_at(1)  # the first block GET stops on its way to the server
    async with stack.client(transfer_concurrency=2) as client:
        download = await _paused_mid_transfer(stack, client.download_file("/f.bin", out))
        await stack.block.restart()
        stack.proxy.resume()
        await asyncio.wait_for(download, 30)
    assert sha256_of(out) == sha256_of(src)
