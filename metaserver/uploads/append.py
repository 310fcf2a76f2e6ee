"""The rest of an open block list, in parts (``POST /v1/uploads/{id}/blocks``).

A client may open a session with the first blocks of a big file
(``"blocks_complete": false``, :mod:`metaserver.uploads.sessions`) and send those blocks
while it hashes the rest; each further part names where it starts and lists
the next blocks in order. A part is answered like a session, but with only its
own blocks (each needed one with a put grant). Re-sending a part whose answer
was lost is harmless: blocks already listed must be the same ones and are
answered again; only the blocks past them are added.

New blocks are re-used from the user's stored blocks (same SHA-256 and size),
or from blocks this session listed before (identical blocks of one file share
an id, as in one list); every other block gets a new id. Each part's new blocks
are reserved as it is listed (quota and pending-block limit, :mod:`.reservations`). When the last block is listed the server computes
the content hash (checking the client's, if it sends one), and a "pending"
journal row tells the other devices again, since only then is the upload
offered to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from protocol import hashing, paths
from protocol.errors import BadRequest, UploadExpired
from protocol.messages.uploads import WRONG_CONTENT_HASH, BlocksPart, UploadSession, check_block_sizes

from ..core.auth import Caller
from ..core.settings import ServerSettings
from ..tree.journal import Journal
from . import reservations
from .sessions import expired, insert_blocks, load_session, session_reply, stored_blocks


async def append(
    conn: asyncpg.Connection, settings: ServerSettings, caller: Caller, session_id: str, body: Any
) -> UploadSession:
    """List a part of an open session's blocks (see the module docstring); the part's answer."""
    part = BlocksPart.from_wire(body)
    start, blocks, claimed = part.start, part.blocks, part.content_hash
    s = await load_session(conn, caller, session_id, lock=True)
    if s["state"] != "open" or expired(s):
        raise UploadExpired()
    check_block_sizes(s["size"], start, blocks, complete=False)
    listed = await conn.fetch(
        """SELECT sb.idx, b.id, b.size, b.md5, b.sha256
             FROM session_blocks sb JOIN blocks b ON b.id = sb.block_id
            WHERE sb.session_id = $1 ORDER BY sb.idx""",
        s["id"],
    )
    if start > len(listed):
        raise BadRequest(f"parts are listed in order: {len(listed)} blocks are listed, this part starts at {start}")
    for row, b in zip(listed[start:], blocks, strict=False):
        if (bytes(row["sha256"]).hex(), bytes(row["md5"]).hex(), row["size"]) != (b.sha256, b.md5, b.size):
            raise BadRequest(f"block {row['idx']} is not the one listed before at that index")
    new = blocks[len(listed) - start :]
    if new:
        await _add_blocks(conn, settings, caller, s["id"], len(listed), new, listed)
    count = len(listed) + len(new)
    if count == s["block_count"] and s["content_hash"] is None:
        s = await _complete(conn, s, [bytes(r["sha256"]).hex() for r in listed] + [b.sha256 for b in new], claimed)
    elif claimed is not None and s["content_hash"] is None:
        raise BadRequest("content_hash goes with the part that completes the block list")
    elif claimed is not None and bytes(s["content_hash"]).hex() != claimed:
        raise BadRequest(WRONG_CONTENT_HASH)
    return await session_reply(conn, settings, caller, s, start, start + len(blocks), listed=count)


async def _add_blocks(
    conn: asyncpg.Connection,
    settings: ServerSettings,
    caller: Caller,
    session_id: str,
    first_index: int,
    new: Sequence[hashing.BlockHash],
    listed: list[asyncpg.Record],
) -> None:
    unique: dict[tuple[str, int], hashing.BlockHash] = {}
    for b in new:
        unique.setdefault((b.sha256, b.size), b)
    ids = await stored_blocks(conn, caller.user_id, unique)
    for row in listed:  # this file's own blocks, stored or not yet
        key = (bytes(row["sha256"]).hex(), row["size"])
        if key in unique:
            ids.setdefault(key, row["id"])
    fresh = [b for key, b in unique.items() if key not in ids]
    for b in fresh:
        ids[(b.sha256, b.size)] = uuid.uuid4().hex
    need = reservations.Need(0, len(fresh), sum(b.size for b in fresh))
    await reservations.reserve(conn, settings, caller.user_id, need)
    await reservations.add_to_session(conn, session_id, need)
    await insert_blocks(conn, caller.user_id, fresh, ids)
    await conn.execute(
        """INSERT INTO session_blocks (session_id, idx, block_id)
           SELECT $1, $2 + i - 1, b FROM unnest($3::uuid[]) WITH ORDINALITY AS t(b, i)""",
        session_id,
        first_index,
        [ids[(b.sha256, b.size)] for b in new],
    )


async def _complete(
    conn: asyncpg.Connection, s: asyncpg.Record, sha256s: list[str], claimed: str | None
) -> asyncpg.Record:
    """Set the content hash of a session whose list is now complete; the updated row."""
    computed = hashing.content_hash(sha256s)
    if claimed is not None and claimed != computed:
        raise BadRequest(WRONG_CONTENT_HASH)
    row = await conn.fetchrow(
        "UPDATE upload_sessions SET content_hash = $2 WHERE id = $1 RETURNING *", s["id"], bytes.fromhex(computed)
    )
    # offered to the other devices only now: tell them again, as the session's creation did
    await Journal.append(conn, s["ns_id"], [(paths.path_key(s["path"]), s["path"], "pending", None, False)])
    return row
