"""Batches of upload sessions committed with set-based SQL (``POST /v1/uploads/commit_batch``).

:func:`commit_many` does what :func:`metaserver.uploads.sessions.commit` does for each
item, in order, with a fixed number of statements per batch, as
:mod:`metaserver.uploads.create_batch` does for creating them; an item that fails a
check answers its own error and writes nothing.

A commit batch whose items depend on each other (the same path twice, one
item's path above another's, a session listed twice or already committed) is
committed item by item instead, so that every item sees the ones before it
exactly as the single commit would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from protocol import paths
from protocol.errors import (
    BadRequest,
    BlocksMissing,
    NotAFolder,
    NotFound,
    TesseraError,
    UploadExpired,
)
from protocol.grants import canonical_block_id
from protocol.messages.files import Metadata

from ..core import members
from ..core.auth import Caller
from ..tree import batch, entries, ops
from ..tree.journal import Author, Journal
from .sessions import LIST_NOT_COMPLETE, MAX_MISSING_REPORTED, check_target, commit, expired


def _independent(sessions: list[asyncpg.Record]) -> bool:
    """No two sessions touch one path, and none's path is above another's."""
    targets = [paths.normalize(s["path"]) for s in sessions]
    keys = {paths.path_key(p) for p in targets}
    if len(keys) != len(targets):
        return False
    return not any(paths.path_key(a) in keys for p in targets for a in paths.ancestors(p))


async def commit_many(
    conn: asyncpg.Connection, caller: Caller, ns_id: int, raw: list[Any]
) -> list[Metadata | TesseraError]:
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
        elif expired(s):
            items.append(UploadExpired())
        elif s["content_hash"] is None:
            items.append(BadRequest(LIST_NOT_COMPLETE))
        elif s["id"] in missing:
            idx = missing[s["id"]][: MAX_MISSING_REPORTED]
            more = "+" if len(missing[s["id"]]) > MAX_MISSING_REPORTED else ""
            items.append(BlocksMissing(f"{len(idx)}{more} blocks are not stored yet", missing=idx))
        elif s["ns_id"] != ns_id:
            items.append(BadRequest("all uploads of a batch must be in one namespace"))
        else:
            items.append(s)
    sessions = [s for s in items if not isinstance(s, TesseraError)]
    if not _independent(sessions):
        return await _one_by_one(conn, caller, ns_id, raw)
    return await _commit_independent(conn, caller, await Journal.begin(conn, ns_id, Author.of(caller)), items)


async def _one_by_one(
    conn: asyncpg.Connection, caller: Caller, ns_id: int, raw: list[Any]
) -> list[Metadata | TesseraError]:
    async def one(upload_id: Any, journal: Journal) -> Metadata:
        if not isinstance(upload_id, str):
            raise BadRequest("upload ids are strings")
        return await commit(conn, caller, upload_id, journal)

    return await batch.run(conn, ns_id, Author.of(caller), raw, one)


#: a session that makes a new version: its index among the plans, the session, its path, the
#: display path of its entry, the live entry it replaces (None: none)
NewFile = tuple[int, asyncpg.Record, str, str, Any]


async def _commit_independent(
    conn: asyncpg.Connection, caller: Caller, j: Journal, items: list[asyncpg.Record | TesseraError]
) -> list[Metadata | TesseraError]:
    await members.require(conn, j.ns_id, caller.user_id, members.WRITE)  # under the lock (see sessions.commit)
    sessions = [s for s in items if not isinstance(s, TesseraError)]
    keys = {
        paths.path_key(p)
        for s in sessions
        for p in [*paths.ancestors(paths.normalize(s["path"])), paths.normalize(s["path"])]
    }
    known: dict[str, Any] = dict(await entries.get_many(conn, j.ns_id, sorted(keys))) if keys else {}
    writes: list[ops.EntryWrite] = []
    new_files: list[NewFile] = []
    plans = _plan(known, j, items, writes, new_files)
    revs, fresh = await _insert_versions(conn, caller, j.ns_id, [(s, path, live) for _, s, path, _, live in new_files])
    for (_, s, _, name, live), (rev, _) in zip(new_files, revs, strict=True):
        writes.append(ops.entry_write(j, name, "file", rev))
        j.usage.committed(s["size"], live["size"] if live is not None else None, 0)
    j.usage.stored += fresh
    if writes:
        await ops.write_entries(conn, j.ns_id, writes)
    answers = await _answer_and_mark_committed(conn, items, plans, new_files, revs)
    await j.flush()
    return answers


def _plan(
    known: dict[str, Any],
    j: Journal,
    items: list[asyncpg.Record | TesseraError],
    writes: list[ops.EntryWrite],
    new_files: list[NewFile],
) -> list[tuple | TesseraError]:
    """Per item: ("same", metadata) | ("new",) | its error. Adds the missing parent folders to
    ``writes`` (and ``known``, and the journal) and the new versions to ``new_files``."""
    plans: list[tuple | TesseraError] = []
    for s in items:
        if isinstance(s, TesseraError):
            plans.append(s)
            continue
        path = paths.normalize(s["path"])
        try:
            display, folders = _parents(known, path)
            current = known.get(paths.path_key(path))
            outcome = check_target(current, s["mode"], s["parent_rev"], bytes(s["content_hash"]))
        except TesseraError as e:
            plans.append(e)
            continue
        for folder in folders:  # missing parents, created as ensure_parents would
            known[paths.path_key(folder)] = {"path": folder, "kind": "folder", "deleted": False, "rev": None}
            writes.append(ops.entry_write(j, folder, "folder", None))
        if outcome == "same":
            plans.append(("same", entries.metadata(current)))
            continue
        live = current is not None and not current["deleted"]
        name = current["path"] if live else paths.join(display, paths.basename(path))
        new_files.append((len(plans), s, path, name, current if live else None))
        plans.append(("new",))
    return plans


async def _answer_and_mark_committed(
    conn: asyncpg.Connection,
    items: list[asyncpg.Record | TesseraError],
    plans: list[tuple | TesseraError],
    new_files: list[NewFile],
    revs: list[tuple[int, datetime]],
) -> list[Metadata | TesseraError]:
    """Each item's answer; the sessions that committed are marked so, with their revs."""
    answers: list[Metadata | TesseraError] = []
    done_ids, done_revs = [], []
    new = iter(zip(new_files, revs, strict=True))
    for s, plan in zip(items, plans, strict=True):
        if isinstance(plan, TesseraError):
            answers.append(plan)
            continue
        assert not isinstance(s, TesseraError)
        if plan[0] == "same":
            answers.append(plan[1])
            done_revs.append(plan[1].rev)
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
    conn: asyncpg.Connection, caller: Caller, ns_id: int, files: list[tuple[asyncpg.Record, str, Any]]
) -> tuple[list[tuple[int, datetime]], int]:
    """New versions (ids in item order, as single commits would number them) and their blocks;
    each continues the file of the live entry it replaces, or starts a new one. Also returns the
    bytes of their blocks that no version referenced before (added to ``stored_bytes``)."""
    if not files:
        return [], 0
    ids = sorted(
        r[0]
        for r in await conn.fetch(
            "SELECT nextval(pg_get_serial_sequence('versions', 'id')) FROM generate_series(1, $1)", len(files)
        )
    )
    rows = await conn.fetch(
        """INSERT INTO versions (id, ns_id, path, size, content_hash, block_count, parent_rev, device_name, user_id,
                                 client_modified, file_id, number)
           SELECT u.id, $1, u.path, u.size, u.content_hash, u.block_count, u.parent_rev, u.device_name, $2,
                  u.client_modified, coalesce(u.file_id, u.id), u.number
             FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::bytea[], $7::int[], $8::bigint[], $9::text[],
                         $10::timestamptz[], $11::bigint[], $12::int[])
                  AS u(id, path, size, content_hash, block_count, parent_rev, device_name, client_modified, file_id,
                       number)
           RETURNING id, created_at""",
        ns_id,
        caller.user_id,
        ids,
        [path for _, path, _ in files],
        [s["size"] for s, _, _ in files],
        [s["content_hash"] for s, _, _ in files],
        [s["block_count"] for s, _, _ in files],
        [live["rev"] if live is not None else None for _, _, live in files],
        [s["device_name"] for s, _, _ in files],
        [s["client_modified"] for s, _, _ in files],
        [live["file_id"] if live is not None else None for _, _, live in files],
        [live["number"] + 1 if live is not None else 1 for _, _, live in files],
    )
    created = {r["id"]: r["created_at"] for r in rows}
    fresh = await conn.fetchval(
        """WITH vb AS (
               INSERT INTO version_blocks (version_id, idx, block_id)
               SELECT u.version_id, sb.idx, sb.block_id
                 FROM unnest($1::bigint[], $2::uuid[]) AS u(version_id, session_id)
                 JOIN session_blocks sb ON sb.session_id = u.session_id
           )
           SELECT coalesce(sum(b.size), 0) FROM blocks b
            WHERE b.id IN (SELECT block_id FROM session_blocks WHERE session_id = ANY($2::uuid[]))
              AND NOT EXISTS (SELECT 1 FROM version_blocks x JOIN versions xv ON xv.id = x.version_id
                               WHERE x.block_id = b.id AND xv.ns_id = $3)""",
        ids,
        [s["id"] for s, _, _ in files],
        ns_id,
    )
    return [(i, created[i]) for i in ids], fresh
