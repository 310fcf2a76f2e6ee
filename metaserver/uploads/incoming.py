"""Pending uploads offered to the other devices of a namespace (streaming sync).

A large file's upload takes a while; the other devices of its namespace need
not wait for the commit to start fetching it. While a session is open, they
may list it (:func:`list_incoming`) and read its block list, each block with
whether it is stored yet and, if so, a get grant (:func:`incoming_blocks`),
exactly as ``GET /v1/files/blocks`` grants the blocks of a committed version.
A device fetches the stored blocks into a staging file of its own and, once
the commit arrives through the change feed, downloads only what it still
lacks. Nothing here is a file: the commit is still the only thing that makes a
version, and a session that expires or is abandoned simply stops being
offered.

Only sessions of at least :data:`MIN_BLOCKS` blocks are offered (small files
commit before a prefetch could help), once their block list is complete
(:mod:`metaserver.uploads.append`), never to the device that opened them,
and not once the current tree would refuse their commit as a conflict (the
uploader then keeps its file as a conflicted copy: the session is abandoned).
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.errors import BadRequest, Conflict, IsAFolder, NotFound
from protocol.grants import canonical_block_id
from protocol.messages.incoming import IncomingBlock, IncomingPage, IncomingUpload, IncomingUploads

from ..core.auth import Caller
from ..core.grants import get_grant
from ..core.settings import ServerSettings
from ..tree import entries
from .sessions import check_target

#: sessions smaller than this (in blocks) are not offered
MIN_BLOCKS = 2
#: sessions listed at most (the oldest first)
MAX_LISTED = 100

#: open, unexpired sessions of the namespace opened by another device ($1 ns, $2 token, $3 device)
_VISIBLE = """s.ns_id = $1 AND s.state = 'open' AND s.expires_at > now() AND s.block_count >= $4
              AND s.content_hash IS NOT NULL
              AND coalesce(s.token_id <> $2, s.device_name <> $3)"""


async def list_incoming(conn: asyncpg.Connection, caller: Caller, ns_id: int) -> IncomingUploads:
    """The namespace's pending uploads of other devices, with how many of their blocks are stored."""
    rows = await conn.fetch(
        f"""SELECT s.id, s.path, s.size, s.content_hash, s.block_count, s.device_name, s.expires_at,
                   s.mode, s.parent_rev,
                   (SELECT count(*) FROM session_blocks sb JOIN blocks b ON b.id = sb.block_id
                     WHERE sb.session_id = s.id AND b.state = 'stored') AS stored
              FROM upload_sessions s
             WHERE {_VISIBLE}
             ORDER BY s.created_at, s.id LIMIT $5""",
        ns_id,
        caller.token_id,
        caller.device_name,
        MIN_BLOCKS,
        MAX_LISTED,
    )
    rows = await _committable(conn, ns_id, rows)
    return IncomingUploads(
        [
            IncomingUpload(
                r["id"],
                r["path"],
                r["size"],
                bytes(r["content_hash"]).hex(),
                r["block_count"],
                r["stored"],
                r["device_name"],
                r["expires_at"].timestamp(),
            )
            for r in rows
        ]
    )


async def incoming_blocks(
    conn: asyncpg.Connection,
    settings: ServerSettings,
    caller: Caller,
    ns_id: int,
    upload_id: str,
    start: int,
    limit: int,
) -> IncomingPage:
    """One page of a pending upload's block list; stored blocks carry a get grant.

    NotFound once the session is committed, expired or otherwise not offered.
    """
    try:
        upload_id = canonical_block_id(upload_id)  # the same strict 32-hex id form
    except BadRequest:
        raise NotFound("no such pending upload") from None
    s = await conn.fetchrow(
        f"""SELECT s.id, s.path, s.size, s.content_hash, s.block_count, s.mode, s.parent_rev
              FROM upload_sessions s
             WHERE s.id = $5 AND {_VISIBLE}""",
        ns_id,
        caller.token_id,
        caller.device_name,
        MIN_BLOCKS,
        upload_id,
    )
    if s is None or not await _committable(conn, ns_id, [s]):
        raise NotFound("no such pending upload (committed, expired, bound to conflict or not offered)")
    rows = await conn.fetch(
        """SELECT sb.idx, b.id, b.size, b.md5, b.sha256, b.state
             FROM session_blocks sb JOIN blocks b ON b.id = sb.block_id
            WHERE sb.session_id = $1 AND sb.idx >= $2 ORDER BY sb.idx LIMIT $3""",
        s["id"],
        start,
        limit,
    )
    blocks = [
        IncomingBlock(
            r["idx"],
            r["id"],
            r["size"],
            bytes(r["md5"]).hex(),
            bytes(r["sha256"]).hex(),
            r["state"] == "stored",
            get_grant(settings, caller.user_id, r["id"], r["size"]) if r["state"] == "stored" else None,
        )
        for r in rows
    ]
    return IncomingPage(
        s["id"],
        s["path"],
        s["size"],
        bytes(s["content_hash"]).hex(),
        s["block_count"],
        start,
        list(settings.block_urls),
        blocks,
    )


async def _committable(
    conn: asyncpg.Connection, ns_id: int, sessions: list[asyncpg.Record]
) -> list[asyncpg.Record]:
    """The sessions whose commit the current tree would not refuse as a conflict: one that lost
    to another commit (its uploader keeps it as a conflicted copy instead) is abandoned."""
    if not sessions:
        return []
    keys = [paths.path_key(s["path"]) for s in sessions]
    current = await entries.get_many(conn, ns_id, keys)
    out = []
    for s, key in zip(sessions, keys, strict=True):
        try:
            check_target(current.get(key), s["mode"], s["parent_rev"], bytes(s["content_hash"]))
        except (Conflict, IsAFolder):
            continue
        out.append(s)
    return out
