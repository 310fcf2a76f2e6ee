"""Batches of upload sessions, created and committed with set-based SQL.

:func:`create_many` and :func:`commit_many` do what :func:`metaserver.uploads.create`
and :func:`metaserver.uploads.commit` do for each item, in order, but with a
fixed number of statements per batch (``unnest`` arrays) instead of about ten
round trips per file. Every check an item needs is made in Python against rows
read once for the whole batch; an item that fails a check answers its own
error and writes nothing, exactly as its savepoint would have rolled it back
in the item-by-item path (:func:`metaserver.batch.run`).

A commit batch whose items depend on each other (the same path twice, one
item's path above another's, a session listed twice or already committed) is
committed item by item instead, so that every item sees the ones before it
exactly as the single commit would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from protocol import paths
from protocol.errors import (
    BadRequest,
    BlocksMissing,
    NotAFolder,
    NotFound,
    QuotaExceeded,
    TesseraError,
    UploadExpired,
)
from protocol.grants import canonical_block_id

from . import batch, entries, uploads
from .auth import Caller
from .config import ServerConfig
from .grant_issue import put_grant
from .journal import Journal
from .users import used_bytes

# -- create ----------------------------------------------------------------------------------------


def _precheck(found: dict[str, Any], req: uploads.UploadRequest) -> None:
    """What :func:`metaserver.uploads._precheck_target` checks, against rows read beforehand."""
    for p in paths.ancestors(req.path):
        row = found.get(paths.path_key(p))
        if row is not None and not row["deleted"] and row["kind"] != "folder":
            raise NotAFolder(f"{row['path']} is a file, not a folder")
    uploads._check_target(
        found.get(paths.path_key(req.path)), req.mode, req.parent_rev, bytes.fromhex(req.content_hash)
    )


async def create_many(
    conn: asyncpg.Connection, config: ServerConfig, caller: Caller, ns_id: int, raw: list[Any]
) -> list[dict[str, Any]]:
    """Open an upload session for each item (see the module docstring); one answer per item.

    The namespace's journal row is locked only for the last step (the "pending"
    journal rows): everything before it reads or inserts rows of this batch
    alone, and its checks only fail early what the commit checks again under the
    lock, so batches in flight do not queue behind each other's work.
    """
    items: list[uploads.UploadRequest | TesseraError] = []
    for body in raw:
        try:
            items.append(uploads.UploadRequest.from_wire(body))
        except TesseraError as e:
            items.append(e)
    reqs = [r for r in items if isinstance(r, uploads.UploadRequest)]
    keys = {paths.path_key(p) for r in reqs for p in [*paths.ancestors(r.path), r.path]}
    found = await entries.get_many(conn, ns_id, sorted(keys)) if keys else {}
    for i, r in enumerate(items):
        if isinstance(r, uploads.UploadRequest):
            try:
                _precheck(found, r)
            except TesseraError as e:
                items[i] = e
    # re-use stored blocks of this user with the same SHA-256 and size (locked against the collector)
    unique = {(b.sha256, b.size) for r in items if isinstance(r, uploads.UploadRequest) for b in r.blocks}
    ids = await uploads.stored_blocks(conn, caller.user_id, unique)
    stored = set(ids)
    await _check_quotas(conn, caller.user_id, items, stored)
    new_blocks = {}
    for r in items:
        if isinstance(r, uploads.UploadRequest):
            for b in r.blocks:
                key = (b.sha256, b.size)
                if key not in ids:
                    ids[key] = uuid.uuid4().hex
                    new_blocks[key] = b
    await uploads.insert_blocks(conn, caller.user_id, list(new_blocks.values()), ids)
    expires = datetime.now(UTC) + timedelta(seconds=config.upload_session_ttl)
    live = [r for r in items if isinstance(r, uploads.UploadRequest)]
    session_ids = [uuid.uuid4().hex for _ in live]
    if live:
        await conn.execute(
            """INSERT INTO upload_sessions
                   (id, user_id, ns_id, path, size, content_hash, block_count, mode, parent_rev, device_name, expires_at,
                    client_modified)
               SELECT u.id, $1, $2, u.path, u.size, u.content_hash, u.block_count, u.mode, u.parent_rev, $3, $4,
                      u.client_modified
                 FROM unnest($5::uuid[], $6::text[], $7::bigint[], $8::bytea[], $9::int[], $10::text[], $11::bigint[],
                             $12::timestamptz[])
                      AS u(id, path, size, content_hash, block_count, mode, parent_rev, client_modified)""",
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
    # the upload_sessions rows hold a KEY SHARE lock on the namespace row by now, which the
    # journal's FOR NO KEY UPDATE does not wait on
    j = await Journal.begin(conn, ns_id)
    answers: list[dict[str, Any]] = []
    sessions = iter(session_ids)
    for r in items:
        if isinstance(r, TesseraError):
            answers.append(r.to_wire())
            continue
        # other devices see "a file is being uploaded" in the change feed
        j.add(paths.path_key(r.path), r.path, "pending", None, False)
        answers.append(_session_answer(config, caller, next(sessions), r, ids, stored, expires))
    await j.flush()
    return answers


async def _check_quotas(
    conn: asyncpg.Connection, user_id: int, items: list[Any], stored: set[tuple[str, int]]
) -> None:
    """QuotaExceeded for each item whose new blocks would not fit (as the single create checks it)."""
    need = []
    for r in items:
        if isinstance(r, uploads.UploadRequest):
            distinct = {(b.sha256, b.size) for b in r.blocks} - stored
            need.append(sum(size for _, size in distinct))
        else:
            need.append(0)
    if not any(need):
        return
    quota = await conn.fetchval("SELECT quota_bytes FROM users WHERE id = $1", user_id)
    if quota is None:
        return
    used = await used_bytes(conn, user_id)
    for i, n in enumerate(need):
        if n and used + n > quota:
            items[i] = QuotaExceeded(
                f"this upload needs {n} more bytes; {max(0, quota - used)} of {quota} are left",
                quota_bytes=quota,
                used_bytes=used,
            )


def _session_answer(
    config: ServerConfig,
    caller: Caller,
    session_id: str,
    r: uploads.UploadRequest,
    ids: dict[tuple[str, int], str],
    stored: set[tuple[str, int]],
    expires: datetime,
) -> dict[str, Any]:
    """What :func:`metaserver.uploads.status` answers for a session just created."""
    out_blocks = []
    granted: set[str] = set()
    for idx, b in enumerate(r.blocks):
        key = (b.sha256, b.size)
        block_id = ids[key]
        item: dict[str, Any] = {"index": idx, "block_id": block_id}
        if key in stored:
            item["state"] = "stored"
        else:
            item["state"] = "needed"
            if block_id not in granted:  # identical blocks share an id: send it once
                granted.add(block_id)
                item["grant"] = put_grant(
                    config, caller.user_id, block_id, b.size, bytes.fromhex(b.md5), bytes.fromhex(b.sha256)
                )
        out_blocks.append(item)
    return {
        "upload_id": session_id,
        "path": r.path,
        "size": r.size,
        "content_hash": r.content_hash,
        "expires_at": expires.timestamp(),
        "block_servers": list(config.block_urls),
        "blocks": out_blocks,
        "needed": len(granted),
    }


# -- commit ----------------------------------------------------------------------------------------


def _independent(sessions: list[asyncpg.Record]) -> bool:
    """No two sessions touch one path, and none's path is above another's."""
    targets = [paths.normalize(s["path"]) for s in sessions]
    keys = {paths.path_key(p) for p in targets}
    if len(keys) != len(targets):
        return False
    return not any(paths.path_key(a) in keys for p in targets for a in paths.ancestors(p))


async def commit_many(
    conn: asyncpg.Connection, caller: Caller, ns_id: int, raw: list[Any]
) -> list[dict[str, Any]]:
    """Commit each upload session (see the module docstring); one answer per item.

    The sessions are locked and checked (all blocks stored) before the
    namespace's journal row is: those reads concern this batch's rows alone, so
    only the entries' checks and the writes queue behind other writers (in the
    order a single commit takes them: session rows, then the journal).
    """
    wanted: list[str | TesseraError] = []
    for upload_id in raw:
        if not isinstance(upload_id, str):
            wanted.append(BadRequest("upload ids are strings"))
            continue
        try:
            wanted.append(canonical_block_id(upload_id))  # the same strict 32-hex id form
        except BadRequest:
            wanted.append(NotFound("no such upload session"))
    ids = [w for w in wanted if isinstance(w, str)]
    rows = await conn.fetch(
        "SELECT * FROM upload_sessions WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", ids
    )
    by_id = {r["id"]: r for r in rows if r["user_id"] == caller.user_id}
    if len(set(ids)) != len(ids) or any(r["state"] != "open" for r in by_id.values()):
        return await _one_by_one(conn, caller, ns_id, raw)
    missing = {
        r["session_id"]: r["missing"]
        for r in await conn.fetch(
            """SELECT sb.session_id, array_agg(sb.idx ORDER BY sb.idx) AS missing
                 FROM session_blocks sb JOIN blocks b ON b.id = sb.block_id
                WHERE sb.session_id = ANY($1::uuid[]) AND b.state <> 'stored'
                GROUP BY sb.session_id""",
            list(by_id),
        )
    }
    items: list[asyncpg.Record | TesseraError] = []
    for w in wanted:
        s = by_id.get(w) if isinstance(w, str) else None
        if isinstance(w, TesseraError):
            items.append(w)
        elif s is None:
            items.append(NotFound("no such upload session"))
        elif uploads._expired(s):
            items.append(UploadExpired())
        elif s["id"] in missing:
            idx = missing[s["id"]][: uploads.MAX_MISSING_REPORTED]
            more = "+" if len(missing[s["id"]]) > uploads.MAX_MISSING_REPORTED else ""
            items.append(BlocksMissing(f"{len(idx)}{more} blocks are not stored yet", missing=idx))
        elif s["ns_id"] != ns_id:
            items.append(BadRequest("all uploads of a batch must be in one namespace"))
        else:
            items.append(s)
    sessions = [s for s in items if not isinstance(s, TesseraError)]
    if not _independent(sessions):
        return await _one_by_one(conn, caller, ns_id, raw)
    return await _commit_independent(conn, caller, await Journal.begin(conn, ns_id), items)


async def _one_by_one(
    conn: asyncpg.Connection, caller: Caller, ns_id: int, raw: list[Any]
) -> list[dict[str, Any]]:
    async def one(upload_id: Any, journal: Journal) -> dict[str, Any]:
        if not isinstance(upload_id, str):
            raise BadRequest("upload ids are strings")
        return await uploads.commit(conn, caller, upload_id, journal)

    return await batch.run(conn, ns_id, raw, one)


async def _commit_independent(
    conn: asyncpg.Connection, caller: Caller, j: Journal, items: list[asyncpg.Record | TesseraError]
) -> list[dict[str, Any]]:
    sessions = [s for s in items if not isinstance(s, TesseraError)]
    keys = {
        paths.path_key(p)
        for s in sessions
        for p in [*paths.ancestors(paths.normalize(s["path"])), paths.normalize(s["path"])]
    }
    known: dict[str, Any] = dict(await entries.get_many(conn, j.ns_id, sorted(keys))) if keys else {}
    #: per item: ("same", metadata) | ("new", path, display, live_rev) | error
    plans: list[tuple | TesseraError] = []
    writes: list[tuple[str, str, str, str, int | None, int]] = []  # key, parent key, path, kind, rev?, seq
    new_files: list[
        tuple[int, asyncpg.Record, str, str, int | None]
    ] = []  # writes index, session, path, display, live_rev
    for s in items:
        if isinstance(s, TesseraError):
            plans.append(s)
            continue
        path = paths.normalize(s["path"])
        try:
            display, folders = _parents(known, path)
            current = known.get(paths.path_key(path))
            outcome = uploads._check_target(current, s["mode"], s["parent_rev"], bytes(s["content_hash"]))
        except TesseraError as e:
            plans.append(e)
            continue
        for folder in folders:  # missing parents, created as ensure_parents would
            key = paths.path_key(folder)
            known[key] = {"path": folder, "kind": "folder", "deleted": False, "rev": None}
            writes.append(
                (
                    key,
                    paths.path_key(paths.parent(folder)),
                    folder,
                    "folder",
                    None,
                    j.add(key, folder, "folder", None, False),
                )
            )
        if outcome == "same":
            plans.append(("same", entries.metadata(current)))
            continue
        live = current is not None and not current["deleted"]
        name = current["path"] if live else paths.join(display, paths.basename(path))
        new_files.append((len(plans), s, path, name, current["rev"] if live else None))
        plans.append(("new",))
    revs = await _insert_versions(
        conn, caller, j.ns_id, [(s, path, live_rev) for _, s, path, _, live_rev in new_files]
    )
    for (_, _, _, name, _), (rev, _) in zip(new_files, revs, strict=True):
        key = paths.path_key(name)
        writes.append(
            (key, paths.path_key(paths.parent(name)), name, "file", rev, j.add(key, name, "file", rev, False))
        )
    if writes:
        await conn.execute(
            """INSERT INTO entries (ns_id, path_key, parent_key, path, kind, rev, deleted, seq, modified_at)
               SELECT $1, u.path_key, u.parent_key, u.path, u.kind, u.rev, false, u.seq, now()
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
                      AS u(path_key, parent_key, path, kind, rev, seq)
               ON CONFLICT (ns_id, path_key) DO UPDATE
                  SET parent_key = EXCLUDED.parent_key, path = EXCLUDED.path, kind = EXCLUDED.kind,
                      rev = coalesce(EXCLUDED.rev, entries.rev), deleted = EXCLUDED.deleted,
                      seq = EXCLUDED.seq, modified_at = now()""",
            j.ns_id,
            *[[w[i] for w in writes] for i in range(6)],
        )
    answers: list[dict[str, Any]] = []
    done_ids, done_revs = [], []
    new = iter(zip(new_files, revs, strict=True))
    for s, plan in zip(items, plans, strict=True):
        if isinstance(plan, TesseraError):
            answers.append(plan.to_wire())
            continue
        assert not isinstance(s, TesseraError)
        if plan[0] == "same":
            answers.append(plan[1])
            done_revs.append(plan[1]["rev"])
        else:
            (_, _, _, name, _), (rev, created) = next(new)
            answers.append(
                entries.file_metadata(
                    name, rev, s["size"], s["content_hash"], created, s["device_name"], s["client_modified"]
                )
            )
            done_revs.append(rev)
        done_ids.append(s["id"])
    if done_ids:
        await conn.execute(
            """UPDATE upload_sessions s SET state = 'committed', committed_rev = u.rev
                 FROM unnest($1::uuid[], $2::bigint[]) AS u(id, rev) WHERE s.id = u.id""",
            done_ids,
            done_revs,
        )
    await j.flush()
    return answers


def _parents(known: dict[str, Any], path: str) -> tuple[str, list[str]]:
    """The parent's display path and the folders to create above ``path`` (as ensure_parents decides)."""
    display = paths.ROOT
    create: list[str] = []
    for p in paths.ancestors(path):
        row = known.get(paths.path_key(p))
        if row is not None and not row["deleted"]:
            if row["kind"] != "folder":
                raise NotAFolder(f"{row['path']} is a file, not a folder")
            display = row["path"]
        else:
            display = paths.join(display, paths.basename(p))
            create.append(display)
    return display, create


async def _insert_versions(
    conn: asyncpg.Connection, caller: Caller, ns_id: int, files: list[tuple[asyncpg.Record, str, int | None]]
) -> list[tuple[int, datetime]]:
    """New versions (ids in item order, as single commits would number them) and their blocks."""
    if not files:
        return []
    ids = sorted(
        r[0]
        for r in await conn.fetch(
            "SELECT nextval(pg_get_serial_sequence('versions', 'id')) FROM generate_series(1, $1)", len(files)
        )
    )
    rows = await conn.fetch(
        """INSERT INTO versions (id, ns_id, path, size, content_hash, block_count, parent_rev, device_name, user_id,
                                 client_modified)
           SELECT u.id, $1, u.path, u.size, u.content_hash, u.block_count, u.parent_rev, u.device_name, $2,
                  u.client_modified
             FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::bytea[], $7::int[], $8::bigint[], $9::text[],
                         $10::timestamptz[])
                  AS u(id, path, size, content_hash, block_count, parent_rev, device_name, client_modified)
           RETURNING id, created_at""",
        ns_id,
        caller.user_id,
        ids,
        [path for _, path, _ in files],
        [s["size"] for s, _, _ in files],
        [s["content_hash"] for s, _, _ in files],
        [s["block_count"] for s, _, _ in files],
        [live_rev for _, _, live_rev in files],
        [s["device_name"] for s, _, _ in files],
        [s["client_modified"] for s, _, _ in files],
    )
    created = {r["id"]: r["created_at"] for r in rows}
    await conn.execute(
        """INSERT INTO version_blocks (version_id, idx, block_id)
           SELECT u.version_id, sb.idx, sb.block_id
             FROM unnest($1::bigint[], $2::uuid[]) AS u(version_id, session_id)
             JOIN session_blocks sb ON sb.session_id = u.session_id""",
        ids,
        [s["id"] for s, _, _ in files],
    )
    return [(i, created[i]) for i in ids]
