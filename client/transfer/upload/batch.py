"""Uploading many small files in three requests instead of three per file.

1. Every file is read and hashed in a worker thread (MD5 and SHA-256 per
   4 MiB block, as :mod:`client.transfer.upload.file` does; the blocks come from
   :func:`protocol.chunker.iter_blocks`), and its identity
   (device, inode, size, mtime) noted; no file stays open. The bytes read are
   kept for step 3 while they add up to at most :data:`KEPT_BYTES`.
2. ``POST /v1/uploads/batch`` opens a session for each (1 to 1,000 files);
   a file the server refuses gets its own error, the others go on.
3. The blocks the server lacks are sent framed (:mod:`protocol.blockbatch`)
   in ``POST /v1/blocks/batch``, from the bytes kept in step 1 (the very bytes
   hashed) or else read again and checked against their hashes: one
   request unless they add up to more than :data:`MAX_BLOCK_BODY` bytes.
   Memory holds one request body at a time.
4. A file whose identity changed since it was hashed is dropped
   (:class:`~client.api.errors.FileChanged`); ``POST /v1/uploads/commit_batch``
   commits the rest.

The answer is one :class:`BatchResult` per file, in order: its metadata, or
the error that stopped it. Batching pays off for small files (at most
:data:`SMALL_FILE_MAX` bytes); it works for any size. The three requests are
:class:`~client.api.client.ApiClient`'s ``create_upload_batch``,
``put_block_batch`` and ``commit_upload_batch``.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from client.api.errors import FileChanged
from client.api.requestid import in_operation
from client.transfer.filehash import FileIdentity, wire_mtime
from protocol import blockbatch
from protocol.chunker import iter_blocks
from protocol.errors import BadRequest, ProtocolError, TesseraError, error_from_wire
from protocol.hashing import BLOCK_SIZE, BlockHash, content_hash, hash_block
from protocol.messages.files import Metadata
from protocol.messages.uploads import UploadRequest, UploadSession, check_mode

if TYPE_CHECKING:
    from client.api.client import ApiClient

#: files up to this size are worth batching
SMALL_FILE_MAX = 64 * 1024
#: files in one batch (the server's limit)
MAX_BATCH_FILES = 1000
#: largest block batch body built in memory; more blocks go in further requests
MAX_BLOCK_BODY = 16 * 1024 * 1024
#: files hashed per worker-thread call (the batch stays cancellable between calls)
_HASH_CHUNK = 64
#: bytes of a batch's files kept from their hashing for sending (the rest are read again):
#: all of a daemon batch of 250 files of 4 KiB, a quarter of one of 64 KiB files; with the
#: request body, a batch holds at most this + MAX_BLOCK_BODY
KEPT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchFile:
    """One file to upload: like :meth:`client.TesseraClient.upload_file`'s arguments."""

    local_path: Path
    remote_path: str
    mode: str = "overwrite"
    parent_rev: int | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    file: BatchFile
    #: the committed file, or None if ``error`` stopped it
    metadata: Metadata | None = None
    error: Exception | None = None
    #: distinct blocks this file sent (the others were on the server already)
    blocks_sent: int = 0


@dataclass(frozen=True, slots=True)
class _Hashed:
    identity: FileIdentity
    blocks: tuple[BlockHash, ...]
    content_hash: str
    #: the blocks' bytes as they were hashed, if kept for sending
    data: tuple[bytes, ...] | None = None


@dataclass(slots=True)
class _Item:
    file: BatchFile
    hashed: _Hashed | None = None
    session: UploadSession | None = None
    metadata: Metadata | None = None
    error: Exception | None = None
    blocks_sent: int = 0

    @property
    def alive(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class _Needed:
    """A block to send, and where its bytes are (the first file that holds it)."""

    block_id: str
    grant: str
    expected: BlockHash
    holders: list[tuple[_Item, int]] = field(default_factory=list)


@in_operation
async def upload_batch(client: ApiClient, files: Sequence[BatchFile]) -> list[BatchResult]:
    """Upload and commit up to :data:`MAX_BATCH_FILES` files; one result per file, in order."""
    if not 1 <= len(files) <= MAX_BATCH_FILES:
        raise BadRequest(f"a batch holds 1 to {MAX_BATCH_FILES} files")
    for f in files:
        check_mode(f.mode)
    items = [_Item(f) for f in files]
    budget = _Budget(KEPT_BYTES)
    for start in range(0, len(items), _HASH_CHUNK):
        await asyncio.to_thread(_hash_items, items[start : start + _HASH_CHUNK], budget)
    await _create_sessions(client, items)
    await _send_blocks(client, items)
    await asyncio.to_thread(_check_unchanged, items)
    await _commit(client, items)
    return [BatchResult(i.file, i.metadata, i.error, i.blocks_sent) for i in items]


# -- 1. hashing ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Budget:
    """Bytes that may still be kept from hashing."""

    left: int


def _hash_items(items: Sequence[_Item], budget: _Budget) -> None:
    for item in items:
        try:
            item.hashed = _hash_file(item.file.local_path, budget)
        except (OSError, FileChanged) as e:
            item.error = e


def _open_regular(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileChanged(f"{path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _hash_file(path: Path, budget: _Budget) -> _Hashed:
    """The file's identity and block hashes; its bytes too if they fit in ``budget`` (taken from it)."""
    fd = _open_regular(path)
    try:
        before = FileIdentity.of(os.fstat(fd))
        keep = before.size <= budget.left
        blocks = []
        kept = []
        offset = 0
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            for data in iter_blocks(f):
                offset += len(data)
                if offset > before.size:
                    break  # it grew while it was hashed: FileChanged below
                blocks.append(hash_block(data))
                if keep:
                    kept.append(data)
        after = FileIdentity.of(os.fstat(fd))
    finally:
        os.close(fd)
    if offset != before.size or after != before:
        raise FileChanged(f"{path} changed while it was being hashed; nothing was committed")
    if keep:
        budget.left -= before.size
    return _Hashed(before, tuple(blocks), content_hash(b.sha256 for b in blocks), tuple(kept) if keep else None)


# -- 2. sessions -------------------------------------------------------------------------------------


async def _create_sessions(client: ApiClient, items: list[_Item]) -> None:
    todo = [i for i in items if i.alive]
    if not todo:
        return
    requests = []
    for item in todo:
        assert item.hashed is not None
        requests.append(
            UploadRequest(
                item.file.remote_path,
                item.hashed.identity.size,
                item.hashed.blocks,
                content_hash=item.hashed.content_hash,
                mode=item.file.mode,
                parent_rev=item.file.parent_rev,
                client_modified=wire_mtime(item.hashed.identity.mtime_ns),
            )
        )
    # a repeated create only leaves unused sessions to expire: safe to retry
    for item, session in zip(todo, await client.create_upload_batch(requests), strict=True):
        if isinstance(session, TesseraError):
            item.error = session
            continue
        assert item.hashed is not None
        if session.size != item.hashed.identity.size or session.content_hash != item.hashed.content_hash:
            raise ProtocolError("an upload session does not describe the file that was announced")
        if len(session.blocks) != len(item.hashed.blocks):
            raise ProtocolError("an upload session lists another number of blocks than the file has")
        item.session = session


# -- 3. blocks -----------------------------------------------------------------------------------------


def _needed_blocks(items: list[_Item]) -> list[_Needed]:
    needed: dict[str, _Needed] = {}
    for item in items:
        if not item.alive or item.session is None:
            continue
        assert item.hashed is not None
        for b in item.session.blocks:
            if b.state != "needed":
                continue
            if not 0 <= b.index < len(item.hashed.blocks):
                raise ProtocolError(f"an upload session names block {b.index}, which the file does not have")
            entry = needed.get(b.block_id)
            if entry is None:
                if b.grant is None:
                    continue  # another index of the same id carries the grant
                entry = needed[b.block_id] = _Needed(b.block_id, b.grant, item.hashed.blocks[b.index])
            elif b.grant is not None:
                entry.grant = b.grant
            entry.holders.append((item, b.index))
    missing = [n.block_id for n in needed.values() if not n.grant]
    if missing:
        raise ProtocolError(f"the upload sessions gave no grant for {len(missing)} needed block(s)")
    return list(needed.values())


def _requests(needed: list[_Needed]) -> list[list[_Needed]]:
    """Split the blocks into request bodies of at most MAX_BLOCK_BODY bytes and MAX_FRAMES frames."""
    out: list[list[_Needed]] = []
    size = 0
    for n in needed:
        frame = n.expected.size + blockbatch.MAX_HEADER
        if not out or len(out[-1]) >= blockbatch.MAX_FRAMES or size + frame > MAX_BLOCK_BODY:
            out.append([])
            size = 0
        out[-1].append(n)
        size += frame
    return out


def _read_block(item: _Item, index: int, expected: BlockHash) -> bytes | None:
    """The block's bytes as hashed, if kept; else read again, if the file still has them.

    Kept bytes are sent as they are: they are what was hashed and announced, and
    a file changed since is caught by its identity before the commit.
    """
    if item.hashed is not None and item.hashed.data is not None:
        return item.hashed.data[index]
    try:
        fd = _open_regular(item.file.local_path)
    except (OSError, FileChanged):
        return None
    try:
        data = os.pread(fd, expected.size, index * BLOCK_SIZE)
    finally:
        os.close(fd)
    return data if len(data) == expected.size and hash_block(data) == expected else None


def _build_body(blocks: list[_Needed]) -> tuple[bytes, list[_Needed]]:
    """The framed body of the blocks whose bytes are still on disk; files that lost theirs fail."""
    pieces: list[bytes] = []
    sent: list[_Needed] = []
    for n in blocks:
        data = None
        for item, index in n.holders:
            if item.alive:
                data = _read_block(item, index, n.expected)
                if data is not None:
                    break
                item.error = FileChanged(
                    f"{item.file.local_path} changed while it was being uploaded; nothing was committed"
                )
        if data is None:
            continue
        pieces += (blockbatch.frame_header(n.block_id, n.grant), data)
        sent.append(n)
    return b"".join(pieces), sent


async def _send_blocks(client: ApiClient, items: list[_Item]) -> None:
    needed = _needed_blocks(items)
    servers = next((i.session.block_servers for i in items if i.session is not None), [])
    for group in _requests(needed):
        body, sent = await asyncio.to_thread(_build_body, group)
        if not sent:
            continue
        results = await client.put_block_batch(servers, body, len(sent))
        for n, result in zip(sent, results, strict=True):
            if result.get("block_id") != n.block_id:
                raise ProtocolError("the block batch answer is not in the order of the blocks sent")
            if "error" in result:
                err = error_from_wire(0, result)
                for item, _ in n.holders:
                    if item.alive:
                        item.error = err
            elif result.get("state") == "stored":
                first = next((item for item, _ in n.holders if item.alive), None)
                if first is not None:
                    first.blocks_sent += 1
            else:
                raise ProtocolError("a block batch result is neither stored nor an error")


# -- 4. commit ------------------------------------------------------------------------------------------


def _check_unchanged(items: list[_Item]) -> None:
    for item in items:
        if not item.alive or item.hashed is None:
            continue
        try:
            now = FileIdentity.of(os.stat(item.file.local_path, follow_symlinks=False))
        except FileNotFoundError:
            now = None
        if now != item.hashed.identity:
            item.error = FileChanged(
                f"{item.file.local_path} changed while it was being uploaded; nothing was committed"
            )


async def _commit(client: ApiClient, items: list[_Item]) -> None:
    todo = [i for i in items if i.alive and i.session is not None]
    if not todo:
        return
    ids = [i.session.upload_id for i in todo]  # type: ignore[union-attr]
    # the server answers a repeated commit with its first result: safe to retry
    for item, result in zip(todo, await client.commit_upload_batch(ids), strict=True):
        if isinstance(result, TesseraError):
            item.error = result
        else:
            item.metadata = result
