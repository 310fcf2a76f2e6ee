"""Batches of upload sessions created with set-based SQL (``POST /v1/uploads/batch``).

:func:`create_many` does what :func:`metaserver.uploads.sessions.create` does for each
item, in order, but with a fixed number of statements per batch (``unnest``
arrays) instead of about ten round trips per file. Every check an item needs
is made in Python against rows read once for the whole batch; an item that
fails a check answers its own error and writes nothing, exactly as its
savepoint would have rolled it back in the item-by-item path
(:func:`metaserver.tree.batch.run`). Committing them: :mod:`metaserver.uploads.commit_batch`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from protocol import paths
from protocol.errors import (
    BadRequest,
    NotAFolder,
    TesseraError,
)
from protocol.messages.uploads import UploadBlock, UploadRequest, UploadSession

from ..core.auth import Caller
from ..core.grants import put_grant
from ..core.settings import ServerSettings
from ..tree import entries
from ..tree.journal import Journal
from . import reservations
from .sessions import check_target, insert_blocks, stored_blocks


def _precheck(found: dict[str, Any], req: UploadRequest) -> None:
    """What :func:`metaserver.uploads.sessions._precheck_target` checks, against rows read beforehand."""
    for p in paths.ancestors(req.path):
        row = found.get(paths.path_key(p))
        if row is not None and not row["deleted"] and row["kind"] != "folder":
            raise NotAFolder(f"{row['path']} is a file, not a folder")
    check_target(
        found.get(paths.path_key(req.path)), req.mode, req.parent_rev, bytes.fromhex(req.content_hash)
    )


async def create_many(
    conn: asyncpg.Connection, settings: ServerSettings, caller: Caller, ns_id: int, raw: list[Any]
) -> list[UploadSession | TesseraError]:
    """Open an upload session for each item (see the module docstring); one answer per item.

    The namespace's journal row is locked only for the last step (the "pending"
    journal rows): everything before it reads or inserts rows of this batch
    alone, and its checks only fail early what the commit checks again under the
    lock, so batches in flight do not queue behind each other's work.
    """
    items = await _checked_requests(conn, ns_id, raw)
    ids, stored, needs = await _block_ids(conn, settings, caller.user_id, items)
    expires = datetime.now(UTC) + timedelta(seconds=settings.upload_session_ttl)
    live = [r for r in items if isinstance(r, UploadRequest)]
    session_ids = [uuid.uuid4().hex for _ in live]
    if live:
        await _insert_sessions(conn, caller, ns_id, expires, session_ids, live, ids, needs)
    # the upload_sessions rows hold a KEY SHARE lock on the namespace row by now, which the
    # journal's FOR NO KEY UPDATE does not wait on
    j = await Journal.begin(conn, ns_id)
    answers: list[UploadSession | TesseraError] = []
    sessions = iter(session_ids)
    for r in items:
        if isinstance(r, TesseraError):
            answers.append(r)
            continue
        # other devices see "a file is being uploaded" in the change feed
        j.add(paths.path_key(r.path), r.path, "pending", None, False)
        answers.append(_session_answer(settings, caller, next(sessions), r, ids, stored, expires))
    await j.flush()
    return answers


async def _checked_requests(conn: asyncpg.Connection, ns_id: int, raw: list[Any]) -> list[UploadRequest | TesseraError]:
    """Each item read as an upload request and prechecked against the tree, or its error."""
    items: list[UploadRequest | TesseraError] = []
    for body in raw:
        try:
            req = UploadRequest.from_wire(body)
            if not req.blocks_complete:
                raise BadRequest("a batch takes whole block lists (open a big file's session alone)")
            items.append(req)
        except TesseraError as e:
            items.append(e)
    reqs = [r for r in items if isinstance(r, UploadRequest)]
    keys = {paths.path_key(p) for r in reqs for p in [*paths.ancestors(r.path), r.path]}
    found = await entries.get_many(conn, ns_id, sorted(keys)) if keys else {}
    for i, r in enumerate(items):
        if isinstance(r, UploadRequest):
            try:
                _precheck(found, r)
            except TesseraError as e:
                items[i] = e
    return items


async def _block_ids(
    conn: asyncpg.Connection, settings: ServerSettings, user_id: int, items: list[UploadRequest | TesseraError]
) -> tuple[dict[tuple[str, int], str], set[tuple[str, int]], list[reservations.Need]]:
    """The id of every block the items list, by (SHA-256, size), which of them are stored, and
    what each live item reserves: stored blocks re-used, new ones inserted pending (an item
    that does not fit its user's quota or limits becomes its error)."""
    # re-use stored blocks of this user with the same SHA-256 and size (locked against the collector)
    unique = {(b.sha256, b.size) for r in items if isinstance(r, UploadRequest) for b in r.blocks}
    ids = await stored_blocks(conn, user_id, unique)
    stored = set(ids)
    needs = await _reserve(conn, settings, user_id, items, stored)
    new_blocks = {}
    for r in items:
        if isinstance(r, UploadRequest):
            for b in r.blocks:
                key = (b.sha256, b.size)
                if key not in ids:
                    ids[key] = uuid.uuid4().hex
                    new_blocks[key] = b
    await insert_blocks(conn, user_id, list(new_blocks.values()), ids)
    return ids, stored, needs


async def _insert_sessions(
    conn: asyncpg.Connection,
    caller: Caller,
    ns_id: int,
    expires: datetime,
    session_ids: list[str],
    live: list[UploadRequest],
    ids: dict[tuple[str, int], str],
    needs: list[reservations.Need],
) -> None:
    """The session rows of the ``live`` requests and their block lists, in two statements."""
    await conn.execute(
        """INSERT INTO upload_sessions
               (id, user_id, ns_id, path, size, content_hash, block_count, mode, parent_rev, device_name, expires_at,
                client_modified, reserved_blocks, reserved_bytes)
           SELECT u.id, $1, $2, u.path, u.size, u.content_hash, u.block_count, u.mode, u.parent_rev, $3, $4,
                  u.client_modified, u.reserved_blocks, u.reserved_bytes
             FROM unnest($5::uuid[], $6::text[], $7::bigint[], $8::bytea[], $9::int[], $10::text[], $11::bigint[],
                         $12::timestamptz[], $13::int[], $14::bigint[])
                  AS u(id, path, size, content_hash, block_count, mode, parent_rev, client_modified, reserved_blocks,
                       reserved_bytes)""",
        caller.user_id,
        ns_id,
        caller.device_name,
        expires,
        session_ids,
        [r.path for r in live],
        [r.size for r in live],
        [bytes.fromhex(r.content_hash) for r in live],
        [len(r.blocks) for r in live],
        [r.mode for r in live],
        [r.parent_rev for r in live],
        [r.client_modified_at for r in live],
        [n.blocks for n in needs],
        [n.bytes for n in needs],
    )
    sb = [
        (sid, idx, ids[(b.sha256, b.size)])
        for sid, r in zip(session_ids, live, strict=True)
        for idx, b in enumerate(r.blocks)
    ]
    if sb:
        await conn.execute(
            """INSERT INTO session_blocks (session_id, idx, block_id)
               SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[])""",
            [s for s, _, _ in sb],
            [i for _, i, _ in sb],
            [b for _, _, b in sb],
        )


async def _reserve(
    conn: asyncpg.Connection,
    settings: ServerSettings,
    user_id: int,
    items: list[UploadRequest | TesseraError],
    stored: set[tuple[str, int]],
) -> list[reservations.Need]:
    """What each live item reserves, checked in order against what the user's open sessions and
    the items before it hold (:mod:`.reservations`); an item that does not fit becomes its error.
    A new block listed by several items is reserved by the first."""
    reserved = await reservations.lock(conn, settings, user_id)
    counted: set[tuple[str, int]] = set(stored)
    needs: list[reservations.Need] = []
    for i, r in enumerate(items):
        if not isinstance(r, UploadRequest):
            continue
        new = {(b.sha256, b.size) for b in r.blocks} - counted
        need = reservations.Need(1, len(new), sum(size for _, size in new))
        refusal = reserved.refusal(need)
        if refusal is not None:
            items[i] = refusal
            continue
        reserved.take(need)
        counted |= new
        needs.append(need)
    return needs


def _session_answer(
    settings: ServerSettings,
    caller: Caller,
    session_id: str,
    r: UploadRequest,
    ids: dict[tuple[str, int], str],
    stored: set[tuple[str, int]],
    expires: datetime,
) -> UploadSession:
    """What :func:`metaserver.uploads.sessions.status` answers for a session just created."""
    out_blocks = []
    granted: set[str] = set()
    for idx, b in enumerate(r.blocks):
        key = (b.sha256, b.size)
        block_id = ids[key]
        if key in stored:
            out_blocks.append(UploadBlock(idx, block_id, "stored"))
            continue
        grant = None
        if block_id not in granted:  # identical blocks share an id: send it once
            granted.add(block_id)
            grant = put_grant(
                settings, caller.user_id, block_id, b.size, bytes.fromhex(b.md5), bytes.fromhex(b.sha256)
            )
        out_blocks.append(UploadBlock(idx, block_id, "needed", grant))
    return UploadSession(
        session_id,
        r.path,
        r.size,
        r.content_hash or "",
        expires.timestamp(),
        list(settings.block_urls),
        out_blocks,
        len(granted),
        len(r.blocks),
    )
