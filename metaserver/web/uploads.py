"""Upload session endpoints: create, status, commit; pending uploads offered to the other devices.

A session's path is resolved through the caller's mounts when it is opened: the session
belongs to that namespace (a share's, for a path in a mounted share), the caller must be
allowed to write there (checked again by the block server at each put, and under the
namespace's lock at the commit), and every answer speaks of the caller's paths.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
from aiohttp import web

from protocol import paths
from protocol.errors import IsAFolder, TesseraError
from protocol.grants import canonical_block_id
from protocol.hashing import BLOCK_SIZE
from protocol.messages.uploads import MAX_FILE_SIZE, MAX_PART_BLOCKS, UploadRequest, UploadSession

from ..core import db, members
from ..core.bodies import KIB, MIB, body_limit, read_body
from ..core.callers import Context
from ..core.http import MAX_INT, query_int, respond
from ..core.metrics import METRICS
from ..keys import POOL, SETTINGS
from ..sharing.places import Place, locate, mounts_of, place_of_namespace, resolve
from ..tree import batch
from ..uploads import append, commit_batch, create_batch, incoming, sessions
from .auth import authenticate

#: the longest block list one request may carry: a whole list of the largest file
MAX_LIST = MAX_FILE_SIZE // BLOCK_SIZE


async def _session_place(conn: asyncpg.Connection, ctx: Context, upload_id: str) -> Place | None:
    """Where the caller's session ``upload_id`` is, as they see it (None: no such session of theirs)."""
    try:
        upload_id = canonical_block_id(upload_id)  # the same strict 32-hex id form
    except TesseraError:
        return None
    ns_id = await conn.fetchval(
        "SELECT ns_id FROM upload_sessions WHERE id = $1 AND user_id = $2", upload_id, ctx.caller.user_id
    )
    if ns_id is None:
        return None
    try:
        return await place_of_namespace(conn, ctx, ns_id)
    except TesseraError:
        return None


@body_limit(48 * MIB, max_container_len=MAX_LIST)  # a whole list of a 1 TiB file: 262,144 blocks
async def create_upload(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    req = UploadRequest.from_wire(await read_body(request))
    async with db.transaction(request.app[POOL]) as conn:
        place = await resolve(conn, ctx, req.path, members.WRITE)
        if place.path == paths.ROOT:
            raise IsAFolder(f"{req.path} is a folder")
        answer = await sessions.create(conn, request.app[SETTINGS], ctx.caller, place.ns_id, replace(req, path=place.path))
    return respond(request, place.out(answer).to_wire())


async def _session_answer(request: web.Request, ctx: Context, work) -> web.Response:
    """Run ``work(conn)`` on one of the caller's sessions in a transaction; its answer in their paths."""
    upload_id = request.match_info["upload_id"]
    async with db.transaction(request.app[POOL]) as conn:
        answer = await work(conn)
        place = await _session_place(conn, ctx, upload_id)
    return respond(request, (place.out(answer) if place is not None else answer).to_wire())


async def upload_status(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    settings, upload_id = request.app[SETTINGS], request.match_info["upload_id"]
    return await _session_answer(request, ctx, lambda conn: sessions.status(conn, settings, ctx.caller, upload_id))


@body_limit(2 * MIB, max_container_len=MAX_PART_BLOCKS)
async def append_blocks(request: web.Request) -> web.Response:
    """List the next part of an open session's blocks; the part's blocks, needed ones with grants."""
    ctx = await authenticate(request)
    body = await read_body(request)
    settings, upload_id = request.app[SETTINGS], request.match_info["upload_id"]
    return await _session_answer(request, ctx, lambda conn: append.append(conn, settings, ctx.caller, upload_id, body))


async def abort_upload(request: web.Request) -> web.Response:
    """Give an upload session up (its reservation of quota and limits is released at once)."""
    ctx = await authenticate(request)
    async with db.transaction(request.app[POOL]) as conn:
        await sessions.abort(conn, ctx.caller, request.match_info["upload_id"])
    return respond(request, {})


async def commit_upload(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    upload_id = request.match_info["upload_id"]
    with request.app[METRICS].commit("single"):
        return await _session_answer(request, ctx, lambda conn: sessions.commit(conn, ctx.caller, upload_id))


def _group(places: list[Place | None], home: int) -> dict[int, list[int]]:
    """Item indexes by namespace (items without a place go with the home's, which answers their error)."""
    groups: dict[int, list[int]] = {}
    for i, place in enumerate(places):
        groups.setdefault(place.ns_id if place is not None else home, []).append(i)
    return groups


async def _item_places(conn: asyncpg.Connection, ctx: Context, raw: list[Any]) -> list[Place | None]:
    mounts = await mounts_of(conn, ctx.caller.user_id)
    out: list[Place | None] = []
    for item in raw:
        try:
            out.append(locate(ctx.ns_id, mounts, paths.normalize(item.get("path"))) if isinstance(item, dict) else None)
        except TesseraError:
            out.append(None)  # the item's own check answers it
    return out


@body_limit(16 * MIB, max_container_len=MAX_LIST)
async def create_upload_batch(request: web.Request) -> web.Response:
    """Create up to 1,000 upload sessions; each answer is a session or ``{"error": ...}``."""
    ctx = await authenticate(request)
    raw = batch.check_items(await read_body(request), "files")
    results: list[Any] = [None] * len(raw)
    async with db.transaction(request.app[POOL]) as conn:
        places = await _item_places(conn, ctx, raw)
        for ns_id, idx in _group(places, ctx.ns_id).items():
            try:
                members.check(places[idx[0]].role if places[idx[0]] is not None else members.OWNER, members.WRITE)
            except TesseraError as e:
                for i in idx:
                    results[i] = e.to_wire()
                continue
            items = [{**raw[i], "path": places[i].path} if places[i] is not None else raw[i] for i in idx]
            answers = await create_batch.create_many(conn, request.app[SETTINGS], ctx.caller, ns_id, items)
            for i, answer in zip(idx, answers, strict=True):
                results[i] = _batch_wire(places[i].out(answer) if places[i] is not None else answer)
    return respond(request, {"uploads": results})


@body_limit(256 * KIB, max_container_len=batch.MAX_BATCH)
async def commit_upload_batch(request: web.Request) -> web.Response:
    """Commit up to 1,000 upload sessions; each answer is file metadata or ``{"error": ...}``."""
    ctx = await authenticate(request)
    ids = batch.check_items(await read_body(request), "upload_ids")
    metrics = request.app[METRICS]
    results: list[Any] = [None] * len(ids)
    with metrics.commit("batch"):
        async with db.transaction(request.app[POOL]) as conn:
            places = [await _session_place(conn, ctx, i) if isinstance(i, str) else None for i in ids]
            for ns_id, idx in _group(places, ctx.ns_id).items():
                answers = await commit_batch.commit_many(conn, ctx.caller, ns_id, [ids[i] for i in idx])
                for i, answer in zip(idx, answers, strict=True):
                    results[i] = (places[i].out(answer) if places[i] is not None else answer).to_wire()
    metrics.count_batch(results)
    return respond(request, {"results": results})


def _batch_wire(answer: UploadSession | TesseraError) -> dict[str, Any]:
    return answer.to_wire() if isinstance(answer, TesseraError) else answer.to_batch_wire()


async def list_incoming(request: web.Request) -> web.Response:
    """The home namespace's pending uploads of large files by other devices (streaming sync)."""
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        answer = await incoming.list_incoming(conn, ctx.caller, ctx.ns_id)
    return respond(request, answer.to_wire())


async def incoming_blocks(request: web.Request) -> web.Response:
    """One page of a pending upload's block list, with get grants for the stored blocks."""
    ctx = await authenticate(request)
    start = query_int(request, "start", 0, 0, MAX_INT)
    limit = query_int(request, "limit", 1000, 1, 1000)
    async with db.connection(request.app[POOL]) as conn:
        answer = await incoming.incoming_blocks(
            conn, request.app[SETTINGS], ctx.caller, ctx.ns_id, request.match_info["upload_id"], start, limit
        )
    return respond(request, answer.to_wire())
