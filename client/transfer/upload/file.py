"""Uploading one local file: hash, open a session, send the missing blocks, commit.

1. The file is hashed in 4 MiB blocks, once: each block's MD5, SHA-256 and
   xxh3-64, in parallel worker threads (``concurrency`` blocks at once, each
   in one of the upload's reusable buffers; hashlib releases the GIL). A
   caller that already has the hashes (the sync daemon's scan) passes them as
   a :class:`~client.transfer.filehash.StampedHash`; they are used if the file still
   has the stamp (size, mtime, inode) they were taken at, else it is hashed.
2. ``POST /v1/uploads`` says which blocks the server lacks (the rest are
   deduplicated) and grants each missing block id a PUT. A file of 8 blocks
   or more that has to be hashed opens its session with its first blocks and
   lists the rest in parts as they are hashed, sending each part's blocks
   meanwhile (:mod:`client.transfer.upload.pipeline`); a smaller one, or one whose
   hashes are known, is listed whole.
3. The missing blocks are re-read from disk at ``index * BLOCK_SIZE`` and PUT
   to the block servers, ``concurrency`` at once (the next block is read while
   the previous ones are on the wire); identical blocks share an id and go
   once. Memory is ``concurrency`` block buffers, reused from block to block.
4. The session is committed; blocks the server still misses are sent again.

Every re-read block is checked against the xxh3 it was hashed with (not MD5
and SHA-256 again: the block server verifies those for every body), a block
the block server refuses with ``hash_mismatch`` means the file changed too,
and the file's inode, size and mtime are checked before the commit: a file
edited while it uploads raises :class:`~client.api.errors.FileChanged` and
nothing is committed.

With an :class:`~client.transfer.upload.journal.UploadJournal` (``resume``), the session
is recorded once opened and forgotten once committed. Running the same upload
again after an interruption finds it: if the file still has the same size,
mtime and inode, steps 1 and 2 are skipped (the recorded block hashes are
used) and ``GET /v1/uploads/{id}`` says which blocks are still needed. A
changed file, another mode or an expired or unknown session starts a new
session; so does a session that expires while it uploads (once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from client.api.errors import FileChanged
from client.api.requestid import in_operation
from client.transfer.buffers import BlockBuffers
from client.transfer.concurrency import open_in_thread
from client.transfer.filehash import FileHash, FileStamp, LocalFile, StampedHash, wire_mtime
from client.transfer.progress import NullProgress, Progress
from protocol import hashing, paths
from protocol.errors import (
    BadRequest,
    BlocksMissing,
    Conflict,
    NotFound,
    ProtocolError,
    UploadExpired,
)
from protocol.messages.files import Metadata
from protocol.messages.uploads import UploadSession, check_mode

from .blocks import BlockSender, hash_blocks
from .journal import JournalEntry, UploadJournal, UploadKey
from .pipeline import MIN_BLOCKS, SessionTarget, hash_and_send

if TYPE_CHECKING:
    from client.api.client import ApiClient

log = logging.getLogger(__name__)

#: commits tried when the server reports blocks missing
MAX_COMMIT_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class UploadResult:
    metadata: Metadata
    upload_id: str
    #: blocks in the file
    blocks_total: int
    #: distinct blocks actually sent (the others were already on the server)
    blocks_sent: int
    bytes_sent: int
    #: the upload continued a session an earlier, interrupted run had opened
    resumed: bool = False
    #: blocks this upload hashed with MD5 and SHA-256 (0 when resumed or given the hashes)
    blocks_hashed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.metadata.to_json(),
            "upload_id": self.upload_id,
            "blocks_total": self.blocks_total,
            "blocks_sent": self.blocks_sent,
            "bytes_sent": self.bytes_sent,
            "resumed": self.resumed,
            "blocks_hashed": self.blocks_hashed,
        }


#: errors after which a session can never be committed: its record is dropped
_SESSION_USELESS = (Conflict, FileChanged)
#: errors that say the session is gone: start over with a new one
_SESSION_GONE = (UploadExpired, NotFound)


@dataclass(frozen=True, slots=True)
class _Target:
    """What one upload is: where to, how, and the journal record's key and stamp."""

    key: UploadKey
    stamp: FileStamp
    mode: str
    parent_rev: int | None


@in_operation
async def upload_file(
    client: ApiClient,
    local_path: str | os.PathLike[str],
    remote_path: str,
    *,
    mode: str = "overwrite",
    parent_rev: int | None = None,
    progress: Progress | None = None,
    concurrency: int = 6,
    resume: UploadJournal | None = None,
    known: StampedHash | None = None,
) -> UploadResult:
    """Upload ``local_path`` to ``remote_path`` and commit it (see the module docstring).

    ``known``: the file's hashes as the caller computed them, used instead of
    hashing the file if it still has their stamp (else it is hashed again).
    """
    remote_path = paths.normalize(remote_path)
    if remote_path == paths.ROOT:
        raise BadRequest("cannot upload onto the root folder")
    check_mode(mode)
    progress = progress or NullProgress()
    buffers = BlockBuffers(concurrency)
    local = await open_in_thread(lambda: LocalFile(local_path), LocalFile.close)
    try:
        target = _Target(
            UploadKey(client.server_url, remote_path, local.absolute),
            local.stamp,
            mode,
            parent_rev,
        )
        started = await _start(client, local, target, resume, known, progress, buffers)
        metadata, session, blocks_sent, bytes_sent = await _send_and_commit(
            client, local, target, resume, started, progress, buffers
        )
        await _forget(resume, target, session.upload_id)
        return UploadResult(
            metadata,
            session.upload_id,
            len(started.hashed.blocks),
            blocks_sent,
            bytes_sent,
            started.resumed,
            started.blocks_hashed,
        )
    finally:
        # shielded: a cancelled upload still waits for a running read before closing the fd
        await asyncio.shield(asyncio.to_thread(local.close))


@dataclass(frozen=True, slots=True)
class _Started:
    """An upload's hashes and open session, however it got them."""

    hashed: FileHash
    session: UploadSession
    #: the sender of the blocks sent while the file was hashed (None: none were)
    sent: BlockSender | None
    #: the session is one an earlier, interrupted run opened
    resumed: bool = False
    #: blocks hashed with MD5 and SHA-256 for it
    blocks_hashed: int = 0


async def _start(
    client: ApiClient,
    local: LocalFile,
    target: _Target,
    journal: UploadJournal | None,
    known: StampedHash | None,
    progress: Progress,
    buffers: BlockBuffers,
) -> _Started:
    """The file's hashes and its session: the journal's (resumed), the caller's hashes if the file
    still has their stamp, or the file hashed now (a big one sent while it is hashed)."""
    resumed = await _resume(client, journal, target) if journal is not None else None
    if resumed is not None:
        return _Started(*resumed, sent=None, resumed=True)
    if known is not None and known.stamp == local.stamp:
        return _Started(known.hashed, await _open_session(client, journal, target, known.hashed), None)
    if known is not None:
        log.info("%s changed since it was hashed; hashing it again", local.path)
    if hashing.block_count(local.size) >= MIN_BLOCKS:
        key = target.key
        opened = SessionTarget(key.remote_path, target.mode, target.parent_rev, wire_mtime(local.stamp.mtime_ns))
        try:
            hashed, session, sent = await hash_and_send(
                client, local, opened, progress, buffers, lambda h, s: _record(journal, target, h, s)
            )
            return _Started(hashed, session, sent, blocks_hashed=len(hashed.blocks))
        except _SESSION_GONE as err:
            # gone while its list was being given (an upload longer than the session's
            # lifetime): start over the ordinary way; the blocks stored so far are re-used
            log.info("the upload session of %s is gone (%s); starting a new one", local.path, err.code)
    hashed = await hash_blocks(local, progress, buffers)
    session = await _open_session(client, journal, target, hashed)
    return _Started(hashed, session, None, blocks_hashed=len(hashed.blocks))


async def _send_and_commit(
    client: ApiClient,
    local: LocalFile,
    target: _Target,
    journal: UploadJournal | None,
    started: _Started,
    progress: Progress,
    buffers: BlockBuffers,
) -> tuple[Metadata, UploadSession, int, int]:
    """Send the blocks the session still needs and commit it (a session found gone meanwhile is
    started over, once); the commit, the session, and the blocks and bytes sent."""
    hashed, session, sent = started.hashed, started.session, started.sent
    blocks_sent = bytes_sent = 0
    restarted = False
    while True:
        sender = sent or BlockSender(client, local, hashed, session, progress, buffers)
        try:
            if sent is None:
                await sender.send(session)
            sent = None
            metadata = await _commit(client, local, sender, session.upload_id)
            break
        except _SESSION_GONE as err:
            if restarted:
                raise
            restarted = True
            log.info("upload %s is gone (%s); starting a new session", session.upload_id, err.code)
            await _forget(journal, target, session.upload_id)
            await asyncio.to_thread(local.check_unchanged)
            session = await _open_session(client, journal, target, hashed)
        except _SESSION_USELESS:
            await _forget(journal, target, session.upload_id)
            raise
        finally:
            blocks_sent += sender.blocks_sent
            bytes_sent += sender.bytes_sent
    return metadata, session, blocks_sent, bytes_sent


async def _open_session(
    client: ApiClient, journal: UploadJournal | None, target: _Target, hashed: FileHash
) -> UploadSession:
    """A new upload session for the hashed file, recorded in the journal."""
    session = await client.create_upload(
        target.key.remote_path,
        hashed.size,
        hashed.blocks,
        content_hash=hashed.content_hash,
        mode=target.mode,
        parent_rev=target.parent_rev,
        client_modified=wire_mtime(target.stamp.mtime_ns),
    )
    if session.size != hashed.size or session.content_hash != hashed.content_hash:
        raise ProtocolError("the upload session does not describe the file that was announced")
    await _record(journal, target, hashed, session)
    return session


async def _record(journal: UploadJournal | None, target: _Target, hashed: FileHash, session: UploadSession) -> None:
    """Record the session (its block list complete) in the journal, so a rerun resumes it."""
    if journal is not None:
        entry = JournalEntry(
            session.upload_id,
            target.stamp,
            target.mode,
            target.parent_rev,
            hashed,
            created=time.time(),
            expires_at=session.expires_at,
        )
        await journal.record(target.key, entry)


async def _resume(
    client: ApiClient, journal: UploadJournal, target: _Target
) -> tuple[FileHash, UploadSession] | None:
    """The recorded session of this upload and its current state, if it can go on."""
    key = target.key
    entry = await journal.lookup(key)
    if entry is None:
        return None
    if not entry.matches(target.stamp, target.mode, target.parent_rev):
        log.info(
            "%s changed (or the upload mode did) since upload %s started; starting a new one",
            key.local_path,
            entry.upload_id,
        )
        await journal.forget(key, entry.upload_id)
        return None
    try:
        session = await client.upload_status(entry.upload_id)
    except _SESSION_GONE as err:
        log.info(
            "upload %s of %s cannot resume (%s); starting over", entry.upload_id, key.local_path, err.code
        )
        await journal.forget(key, entry.upload_id)
        return None
    hashed = entry.hashed
    if (
        session.upload_id != entry.upload_id
        or (session.size, session.content_hash, len(session.blocks))
        != (hashed.size, hashed.content_hash, len(hashed.blocks))
        or paths.path_key(session.path) != paths.path_key(key.remote_path)
    ):
        log.warning("upload %s does not match its journal record; starting over", entry.upload_id)
        await journal.forget(key, entry.upload_id)
        return None
    log.info(
        "resuming upload %s of %s: %d of %d blocks still to send",
        entry.upload_id,
        key.local_path,
        session.needed,
        len(hashed.blocks),
    )
    return hashed, session


async def _forget(journal: UploadJournal | None, target: _Target, upload_id: str) -> None:
    if journal is not None:
        await journal.forget(target.key, upload_id)


async def _commit(client: ApiClient, local: LocalFile, sender: BlockSender, upload_id: str) -> Metadata:
    for round_ in range(1, MAX_COMMIT_ROUNDS + 1):
        await asyncio.to_thread(local.check_unchanged)
        try:
            return await client.commit_upload(upload_id)
        except BlocksMissing as err:
            if round_ == MAX_COMMIT_ROUNDS:
                raise
            log.info("commit of %s: %s; sending them again", upload_id, err.message)
            await sender.send(await client.upload_status(upload_id))
    raise AssertionError("unreachable")
