"""Upload sessions: create, report, commit.

A session records the file's block list; blocks already stored in the namespace
(the dedup scope) are re-used, every other block gets a new globally unique id.
The commit verifies every block is stored, then creates the version and moves
the entry in one transaction.

A session may also be opened with the first part of its block list
(``"blocks_complete": false``) and given the rest in order
(:mod:`metaserver.uploads.append`): the file's first blocks can then be sent
while the rest is still being hashed. Its content hash is unknown (NULL) until
the list is complete; until then it cannot be committed, nor offered to other devices.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from protocol import hashing, paths
from protocol.errors import (
    BadRequest,
    BlocksMissing,
    Conflict,
    IsAFolder,
    NotAFolder,
    NotFound,
    UploadExpired,
)
from protocol.grants import canonical_block_id
from protocol.messages.files import Metadata
from protocol.messages.uploads import UploadBlock, UploadRequest, UploadSession

from ..core import members
from ..core.auth import Caller
from ..core.grants import put_grant
from ..core.settings import ServerSettings
from ..tree import entries, ops
from ..tree.journal import Author, Journal
from . import reservations

MAX_MISSING_REPORTED = 1000
#: refused by a single commit and by a commit batch
LIST_NOT_COMPLETE = "the upload's block list is not complete: list the rest before the commit"


def check_target(
    current: asyncpg.Record | None, req_mode: str, parent_rev: int | None, content_hash: bytes | None
) -> str:
    """Decide what a commit onto ``current`` does: 'new', 'same' (no new version) or raise.

    ``content_hash`` None (a block list still open) checks only what does not depend on it."""
    live = current is not None and not current["deleted"]
    if live and current["kind"] == "folder":
        raise IsAFolder(f"{current['path']} is a folder")
    current_rev = current["rev"] if live else None
    if req_mode == "update" and current_rev != parent_rev:
        raise Conflict(
            f"{current['path'] if current else 'the file'} changed since revision {parent_rev}",
            current_rev=current_rev,
        )
    same = live and content_hash is not None and bytes(current["content_hash"]) == content_hash
    if req_mode == "add" and live and not same and content_hash is not None:
        raise Conflict(f"{current['path']} already exists with other content", current_rev=current_rev)
    return "same" if same else "new"


async def _precheck_target(conn: asyncpg.Connection, ns_id: int, req: UploadRequest) -> None:
    """Refuse early (before any block is sent) what the commit would refuse anyway."""
    chain = paths.ancestors(req.path)
    found = await entries.get_many(conn, ns_id, [paths.path_key(p) for p in chain + [req.path]])
    for p in chain:
        row = found.get(paths.path_key(p))
        if row is not None and not row["deleted"] and row["kind"] != "folder":
            raise NotAFolder(f"{row['path']} is a file, not a folder")
    check_target(found.get(paths.path_key(req.path)), req.mode, req.parent_rev, _hash_bytes(req.content_hash))


def _hash_bytes(content_hash: str | None) -> bytes | None:
    return bytes.fromhex(content_hash) if content_hash else None


async def create(
    conn: asyncpg.Connection,
    settings: ServerSettings,
    caller: Caller,
    ns_id: int,
    req: UploadRequest,
    journal: Journal | None = None,
) -> UploadSession:
    """Record a pending upload session; with ``journal``, the caller flushes it (batches)."""
    await _precheck_target(conn, ns_id, req)
    # re-use stored blocks of the namespace with the same SHA-256 and size
    unique: dict[tuple[str, int], hashing.BlockHash] = {}
    for b in req.blocks:
        unique.setdefault((b.sha256, b.size), b)
    ids, referenced = await stored_blocks(conn, ns_id, unique)
    new_blocks = [b for key, b in unique.items() if key not in ids]
    for b in new_blocks:
        ids[(b.sha256, b.size)] = uuid.uuid4().hex
    need = reservations.Need(1, len(new_blocks), new_bytes(unique, referenced))
    await reservations.reserve(conn, settings, caller.user_id, need, ns_id=ns_id)
    await insert_blocks(conn, ns_id, caller.user_id, new_blocks, ids)
    session_id = uuid.uuid4().hex
    expires = datetime.now(UTC) + timedelta(seconds=settings.upload_session_ttl)
    await conn.execute(
        """INSERT INTO upload_sessions
               (id, user_id, ns_id, path, size, content_hash, block_count, mode, parent_rev, device_name,
                expires_at, token_id, client_modified, reserved_blocks, reserved_bytes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
        session_id,
        caller.user_id,
        ns_id,
        req.path,
        req.size,
        _hash_bytes(req.content_hash),
        hashing.block_count(req.size),
        req.mode,
        req.parent_rev,
        caller.device_name,
        expires,
        caller.token_id,
        req.client_modified_at,
        need.blocks,
        need.bytes,
    )
    if req.blocks:
        await conn.execute(
            """INSERT INTO session_blocks (session_id, idx, block_id)
               SELECT $1, i - 1, b FROM unnest($2::uuid[]) WITH ORDINALITY AS t(b, i)""",
            session_id,
            [ids[(b.sha256, b.size)] for b in req.blocks],
        )
    reply = await status(conn, settings, caller, session_id)
    # other devices see "a file is being uploaded"; last: the namespace lock is held only until the commit
    pending = (paths.path_key(req.path), req.path, "pending", None, False)
    if journal is None:
        await Journal.append(conn, ns_id, Author.of(caller), [pending])
    else:
        journal.add(*pending)
    return reply


async def stored_blocks(
    conn: asyncpg.Connection, ns_id: int, wanted: Iterable[tuple[str, int]]
) -> tuple[dict[tuple[str, int], str], set[tuple[str, int]]]:
    """The ids of the namespace's stored blocks with these (SHA-256, size), locked FOR SHARE so
    the garbage collector cannot take them from under the caller's transaction; and which of
    them some version references (the others, left by an unfinished upload or a purge, count
    as new bytes for the quota: their commit adds them to the namespace's ``stored_bytes``)."""
    wanted = list(wanted)
    if not wanted:
        return {}, set()
    rows = await conn.fetch(
        """SELECT b.id, b.sha256, b.size,
                  EXISTS (SELECT 1 FROM version_blocks vb JOIN versions v ON v.id = vb.version_id
                           WHERE vb.block_id = b.id AND v.ns_id = $1) AS referenced
             FROM blocks b
             JOIN unnest($2::bytea[], $3::int[]) AS want(sha256, size)
               ON b.sha256 = want.sha256 AND b.size = want.size
            WHERE b.ns_id = $1 AND b.state = 'stored'
            ORDER BY referenced DESC, b.stored_at
            FOR SHARE OF b""",
        ns_id,
        [bytes.fromhex(s) for s, _ in wanted],
        [n for _, n in wanted],
    )
    ids: dict[tuple[str, int], str] = {}
    referenced: set[tuple[str, int]] = set()
    for r in rows:  # referenced ones first: the others may be garbage soon
        key = (bytes(r["sha256"]).hex(), r["size"])
        if ids.setdefault(key, r["id"]) == r["id"] and r["referenced"]:
            referenced.add(key)
    return ids, referenced


async def insert_blocks(
    conn: asyncpg.Connection, ns_id: int, user_id: int, blocks: Sequence[hashing.BlockHash], ids: dict[tuple[str, int], str]
) -> None:
    """Pending block rows of namespace ``ns_id`` for ``blocks`` under their new ids (``ids`` by
    (SHA-256, size)); ``user_id`` uploads them (their put grants are his)."""
    if not blocks:
        return
    await conn.execute(
        """INSERT INTO blocks (id, ns_id, owner_id, size, md5, sha256)
           SELECT u.id, $6, $1, u.size, u.md5, u.sha256
             FROM unnest($2::uuid[], $3::int[], $4::bytea[], $5::bytea[]) AS u(id, size, md5, sha256)""",
        user_id,
        [ids[(b.sha256, b.size)] for b in blocks],
        [b.size for b in blocks],
        [bytes.fromhex(b.md5) for b in blocks],
        [bytes.fromhex(b.sha256) for b in blocks],
        ns_id,
    )


def new_bytes(keys: Iterable[tuple[str, int]], referenced: set[tuple[str, int]]) -> int:
    """What blocks of these (SHA-256, size) add to the namespace's ``stored_bytes`` once a
    version lists them: the sizes of those no version of the namespace references yet."""
    return sum(size for sha256, size in set(keys) if (sha256, size) not in referenced)


async def load_session(conn: asyncpg.Connection, caller: Caller, session_id: str, *, lock: bool = False) -> asyncpg.Record:
    try:
        session_id = canonical_block_id(session_id)  # the same strict 32-hex id form
    except BadRequest:
        raise NotFound("no such upload session") from None
    row = await conn.fetchrow(
        "SELECT * FROM upload_sessions WHERE id = $1" + (" FOR UPDATE" if lock else ""), session_id
    )
    if row is None or row["user_id"] != caller.user_id:
        raise NotFound("no such upload session")
    return row


async def abort(conn: asyncpg.Connection, caller: Caller, session_id: str) -> None:
    """End an open session now, as if it had expired: its reservation is released at once, and
    garbage collection takes its blocks. Aborting a session that is over already is a no-op;
    a committed one stays committed."""
    s = await load_session(conn, caller, session_id, lock=True)
    if s["state"] == "open" and not expired(s):
        await conn.execute(
            "UPDATE upload_sessions SET expires_at = now(), reservation_held = false WHERE id = $1", s["id"]
        )


def expired(row: asyncpg.Record) -> bool:
    return row["expires_at"] <= datetime.now(UTC)


async def status(conn: asyncpg.Connection, settings: ServerSettings, caller: Caller, session_id: str) -> UploadSession:
    s = await load_session(conn, caller, session_id)
    if s["state"] != "open" or expired(s):
        raise UploadExpired()
    return await session_reply(conn, settings, caller, s)


async def session_reply(
    conn: asyncpg.Connection,
    settings: ServerSettings,
    caller: Caller,
    s: asyncpg.Record,
    start: int = 0,
    stop: int | None = None,
    listed: int | None = None,
) -> UploadSession:
    """The session ``s`` as its creator sees it, with the listed blocks ``start..stop`` (all by
    default), each needed one with a put grant; ``listed``: how many blocks it lists, if the
    caller knows (else counted while the list is open)."""
    rows = await conn.fetch(
        """SELECT sb.idx, b.id, b.size, b.md5, b.sha256, b.state
             FROM session_blocks sb JOIN blocks b ON b.id = sb.block_id
            WHERE sb.session_id = $1 AND sb.idx >= $2 AND sb.idx < $3 ORDER BY sb.idx""",
        s["id"],
        start,
        s["block_count"] if stop is None else stop,
    )
    out_blocks = []
    granted: set[str] = set()
    for r in rows:
        if r["state"] == "stored":
            out_blocks.append(UploadBlock(r["idx"], r["id"], "stored"))
            continue
        grant = None
        if r["id"] not in granted:  # identical blocks share an id: send it once
            granted.add(r["id"])
            grant = put_grant(settings, caller.user_id, r["id"], r["size"], r["md5"], r["sha256"], s["ns_id"])
        out_blocks.append(UploadBlock(r["idx"], r["id"], "needed", grant))
    complete = s["content_hash"] is not None
    if complete:
        listed = s["block_count"]
    elif listed is None:
        listed = await conn.fetchval("SELECT count(*) FROM session_blocks WHERE session_id = $1", s["id"])
    return UploadSession(
        s["id"],
        s["path"],
        s["size"],
        "" if s["content_hash"] is None else bytes(s["content_hash"]).hex(),
        s["expires_at"].timestamp(),
        list(settings.block_urls),
        out_blocks,
        len(granted),
        listed,
        complete,
    )


async def commit(
    conn: asyncpg.Connection, caller: Caller, session_id: str, journal: Journal | None = None
) -> Metadata:
    """Commit a session whose blocks are all stored; with ``journal``, the caller flushes it."""
    s = await load_session(conn, caller, session_id, lock=True)
    if s["state"] == "committed":
        return await _committed_metadata(conn, s)  # a retried commit whose answer was lost
    if expired(s):
        raise UploadExpired()
    if s["content_hash"] is None:
        raise BadRequest(LIST_NOT_COMPLETE)
    missing = await conn.fetch(
        """SELECT sb.idx FROM session_blocks sb JOIN blocks b ON b.id = sb.block_id
            WHERE sb.session_id = $1 AND b.state <> 'stored' ORDER BY sb.idx LIMIT $2""",
        s["id"],
        MAX_MISSING_REPORTED,
    )
    if missing:
        raise BlocksMissing(
            f"{len(missing)}{'+' if len(missing) == MAX_MISSING_REPORTED else ''} blocks are not stored yet",
            missing=[r["idx"] for r in missing],
        )
    if journal is not None and journal.ns_id != s["ns_id"]:
        raise BadRequest("all uploads of a batch must be in one namespace")
    # from here to the COMMIT the namespace is locked (Journal.begin): as few round trips as
    # can be, since the namespace's other writers wait in line meanwhile
    j = journal or await Journal.begin(conn, s["ns_id"], Author.of(caller))
    # the caller's right to write there, under the namespace's lock: a member removed from a
    # share, or made a viewer, before this point commits nothing
    await members.require(conn, j.ns_id, caller.user_id, members.WRITE)
    path = paths.normalize(s["path"])
    key = paths.path_key(path)
    found = await entries.get_many(conn, j.ns_id, [paths.path_key(p) for p in paths.ancestors(path)] + [key])
    parent = await ops.ensure_parents(j, path, found)
    current = found.get(key)
    outcome = check_target(current, s["mode"], s["parent_rev"], bytes(s["content_hash"]))
    if outcome == "same":
        rev = current["rev"]
        answer = entries.metadata(current)
        await conn.execute(
            "UPDATE upload_sessions SET state = 'committed', committed_rev = $2 WHERE id = $1", s["id"], rev
        )
    else:
        live = current if current is not None and not current["deleted"] else None
        rev, created, fresh = await _insert_session_version(conn, j.ns_id, path, s, live, caller.user_id)
        j.usage.committed(s["size"], live["size"] if live else None, fresh)
        display = live["path"] if live else paths.join(parent, paths.basename(path))
        await ops.upsert_entry(j, display, "file", rev)
        answer = entries.file_metadata(
            display, rev, s["size"], s["content_hash"], created, s["device_name"], s["client_modified"]
        )
    if journal is None:
        await j.flush()
    return answer  # what _committed_metadata would read back, without the round trips


async def _insert_session_version(
    conn: asyncpg.Connection, ns_id: int, path: str, s: asyncpg.Record, live: asyncpg.Record | None, user_id: int
) -> tuple[int, Any, int]:
    """The session's file as a new version with its blocks, and the session marked committed to it,
    in one statement (a version INSERT, a version_blocks INSERT and a session UPDATE at once).
    The version continues the file ``live`` (the live entry it replaces), or starts a new one.
    Returns the new rev, its creation time, and the bytes of its blocks that no version
    referenced before (what it adds to the namespace's ``stored_bytes``)."""
    row = await conn.fetchrow(
        """WITH n AS (
               SELECT nextval(pg_get_serial_sequence('versions', 'id')) AS id
           ), v AS (
               INSERT INTO versions (id, ns_id, path, size, content_hash, block_count, parent_rev, device_name,
                                     user_id, client_modified, file_id, number)
               SELECT n.id, $1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($11::bigint, n.id), $12 FROM n
               RETURNING id, created_at
           ), vb AS (
               INSERT INTO version_blocks (version_id, idx, block_id)
               SELECT v.id, sb.idx, sb.block_id FROM v, session_blocks sb WHERE sb.session_id = $10
           ), done AS (
               UPDATE upload_sessions SET state = 'committed', committed_rev = (SELECT id FROM v) WHERE id = $10
           ), fresh AS (
               SELECT coalesce(sum(b.size), 0) AS bytes FROM blocks b
                WHERE b.id IN (SELECT block_id FROM session_blocks WHERE session_id = $10)
                  AND NOT EXISTS (SELECT 1 FROM version_blocks x JOIN versions xv ON xv.id = x.version_id
                                   WHERE x.block_id = b.id AND xv.ns_id = $1)
           )
           SELECT v.id, v.created_at, fresh.bytes FROM v, fresh""",
        ns_id,
        path,
        s["size"],
        s["content_hash"],
        s["block_count"],
        live["rev"] if live else None,
        s["device_name"],
        user_id,
        s["client_modified"],
        s["id"],
        live["file_id"] if live else None,
        live["number"] + 1 if live else 1,
    )
    return row["id"], row["created_at"], row["bytes"]


async def _committed_metadata(conn: asyncpg.Connection, s: asyncpg.Record) -> Metadata:
    v = await conn.fetchrow("SELECT * FROM versions WHERE id = $1", s["committed_rev"])
    if v is None:
        raise NotFound("the committed version no longer exists")
    row = await entries.get(conn, s["ns_id"], paths.path_key(v["path"]))
    path = row["path"] if row is not None and row["rev"] == v["id"] and not row["deleted"] else v["path"]
    return entries.file_metadata(
        path, v["id"], v["size"], v["content_hash"], v["created_at"], v["device_name"], v["client_modified"]
    )
