"""Big files are sent while they are hashed: the block list in parts (client/transfer/upload/pipeline.py), real servers."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from pathlib import Path

import pytest

from client.api.errors import FileChanged
from client.transfer.filehash import LocalFile, hash_file
from client.transfer.upload import pipeline as upload_pipeline
from client.transfer.upload.journal import UploadJournal
from protocol.errors import NotFound
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import overwrite_at, write_random

BLOCKS = upload_pipeline.FIRST_PART + upload_pipeline.PART + 7  # two or three parts
SIZE = (BLOCKS - 1) * BLOCK_SIZE + 12345


async def downloaded(client, remote: str, tmp_path: Path) -> bytes:
    out = tmp_path / "out" / remote.strip("/")
    out.parent.mkdir(exist_ok=True)
    await client.download_file(remote, out)
    return out.read_bytes()


async def test_a_big_file_is_listed_in_parts_and_arrives_whole(client, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="client.transfer.upload.pipeline")
    src = write_random(tmp_path / "big.bin", SIZE, 3)
    result = await client.upload_file(src, "/big.bin")
    assert result.metadata.content_hash == (await asyncio.to_thread(hash_file, src)).content_hash
    assert (result.blocks_hashed, result.blocks_sent, result.bytes_sent) == (BLOCKS, BLOCKS, SIZE)
    parts = re.search(rf"{BLOCKS} blocks listed in (\d+) parts while hashing", caplog.text)
    assert parts is not None and 2 <= int(parts.group(1)) <= 3  # the hashing may run ahead of a part
    assert await downloaded(client, "/big.bin", tmp_path) == src.read_bytes()


async def test_the_first_blocks_are_on_the_wire_before_the_hashing_ends(client, tmp_path, monkeypatch):
    src = write_random(tmp_path / "big.bin", SIZE, 4)
    first_put = threading.Event()
    real_put, real_hash = client.put_block, LocalFile.hash_block_at

    async def put_block(*args, **kwargs):
        await real_put(*args, **kwargs)
        first_put.set()

    def hash_block_at(self, index, buf, *args):
        if index == BLOCKS - 1:  # the last block waits for a block of the first part to be stored
            assert first_put.wait(30), "no block was sent before the whole file was hashed"
        return real_hash(self, index, buf, *args)

    monkeypatch.setattr(client, "put_block", put_block)
    monkeypatch.setattr(LocalFile, "hash_block_at", hash_block_at)
    await client.upload_file(src, "/big.bin")
    assert await downloaded(client, "/big.bin", tmp_path) == src.read_bytes()


async def test_identical_blocks_in_different_parts_go_once(client, tmp_path):
    src = tmp_path / "same.bin"
    src.write_bytes(b"\7" * (BLOCKS * BLOCK_SIZE))
    result = await client.upload_file(src, "/same.bin")
    assert (result.blocks_sent, result.bytes_sent) == (1, BLOCK_SIZE)
    assert await downloaded(client, "/same.bin", tmp_path) == src.read_bytes()


async def test_a_file_changed_while_it_is_sent_is_not_committed(client, tmp_path, monkeypatch):
    src = write_random(tmp_path / "big.bin", SIZE, 5)
    real_hash = LocalFile.hash_block_at

    def hash_block_at(self, index, buf, *args):
        if index == BLOCKS - 2:
            overwrite_at(src, 0, b"edited while it uploads")
        return real_hash(self, index, buf, *args)

    monkeypatch.setattr(LocalFile, "hash_block_at", hash_block_at)
    with pytest.raises(FileChanged):
        await client.upload_file(src, "/big.bin")
    with pytest.raises(NotFound):
        await client.meta("/big.bin")


async def test_small_files_and_known_hashes_are_listed_whole(client, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="client.transfer.upload.pipeline")
    small = write_random(tmp_path / "small.bin", (upload_pipeline.MIN_BLOCKS - 1) * BLOCK_SIZE, 6)
    await client.upload_file(small, "/small.bin")
    assert "listed in" not in caplog.text
    assert await downloaded(client, "/small.bin", tmp_path) == small.read_bytes()


async def test_an_interrupted_pipelined_upload_resumes_once_its_list_is_complete(client, tmp_path):
    src = write_random(tmp_path / "big.bin", SIZE, 7)
    async with UploadJournal(tmp_path / "state" / "uploads.sqlite3") as journal:
        real_put = client.put_block

        async def put_block(servers, index, *args, **kwargs):
            if index == BLOCKS - 1:  # in the last part: the list is complete, the session journaled
                raise ConnectionResetError("the network went away")
            await real_put(servers, index, *args, **kwargs)

        client.put_block = put_block
        with pytest.raises(ConnectionResetError):
            await client.upload_file(src, "/big.bin", resume=journal)
        del client.put_block
        result = await client.upload_file(src, "/big.bin", resume=journal)
        assert result.resumed and result.blocks_hashed == 0 and 1 <= result.blocks_sent < BLOCKS
    assert await downloaded(client, "/big.bin", tmp_path) == src.read_bytes()


async def test_a_session_that_expires_while_its_list_is_given_is_started_over(client, servers, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="client.transfer.upload.file")
    src = write_random(tmp_path / "big.bin", SIZE, 8)
    real_append = client.append_upload_blocks

    async def append_after_expiry(upload_id, *args, **kwargs):
        await servers.pool.execute("UPDATE upload_sessions SET expires_at = now() WHERE id = $1", upload_id)
        return await real_append(upload_id, *args, **kwargs)

    client.append_upload_blocks = append_after_expiry
    result = await client.upload_file(src, "/big.bin")
    assert "is gone (upload_expired); starting a new one" in caplog.text
    states = await servers.pool.fetch("SELECT state FROM upload_sessions ORDER BY created_at")
    assert [r["state"] for r in states] == ["open", "committed"]  # the expired one, then the new one
    assert result.upload_id != (await servers.pool.fetchval("SELECT id FROM upload_sessions WHERE state = 'open'"))
    assert await downloaded(client, "/big.bin", tmp_path) == src.read_bytes()
