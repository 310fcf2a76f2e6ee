"""``GET /v1/trash``, ``POST /v1/trash/restore``, ``POST /v1/trash/purge`` (metaserver/tree/trash.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from aiohttp import web

from protocol import paths
from protocol.errors import BadRequest, NotFound
from protocol.messages.lifecycle import PurgeResult, TrashPage, TrashPurge, TrashRestore

from ..core import db, members
from ..core.bodies import read_body
from ..core.http import query_int, respond
from ..keys import POOL
from ..tree import purge as purging
from ..tree import trash as trash_tree
from ..tree import trash_restore
from ..tree.entries import like_prefix
from ..tree.journal import Author, Journal
from .auth import authenticate
from .files import journaled, place_of

#: purge steps one request takes (each purges up to purge.STEP_FILES files); the answer says
#: whether the purge is done, else the client asks again
MAX_STEPS = 20
#: a cursor holds a path key (at most 4096 bytes, in base64) and two numbers
MAX_CURSOR = 6000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _encode_cursor(row) -> str:
    key = base64.urlsafe_b64encode(row["path_key"].encode("utf-8")).decode("ascii")
    return f"{(row['deleted_at'] - _EPOCH) // _MICROSECOND}.{row['item_id']}.{key}"


def _decode_cursor(raw: str) -> trash_tree.After | None:
    if not raw:
        return None
    try:
        micros, item, key = raw.split(".")
        return (
            _EPOCH + timedelta(microseconds=int(micros)),
            int(item),
            base64.b64decode(key.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8"),
        )
    except (ValueError, OverflowError, UnicodeError):
        raise BadRequest("the cursor is not valid") from None


async def list_trash(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    path = paths.normalize(request.query.get("path", paths.ROOT))
    limit = query_int(request, "limit", 100, 1, trash_tree.MAX_LIMIT)
    raw = request.query.get("cursor", "")
    if len(raw) > MAX_CURSOR:
        raise BadRequest("the cursor is not valid")
    place = await place_of(request, ctx, path)
    async with db.connection(request.app[POOL]) as conn:
        rows = await trash_tree.listing(conn, place.ns_id, place.path, _decode_cursor(raw), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    page = TrashPage([place.out(trash_tree.entry(r)) for r in rows], _encode_cursor(rows[-1]) if rows else raw, more)
    return respond(request, page.to_wire())


async def restore(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    req = TrashRestore.from_wire(await read_body(request))
    place = await place_of(request, ctx, req.path, members.WRITE)
    return await journaled(request, ctx, lambda j: trash_restore.restore(j, place.path, req.id), place)


async def purge(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    req = TrashPurge.from_wire(await read_body(request))
    if req.all:  # the home namespace's trash (a share's is purged by its mount's path)
        target, ns_id = purging.Target(), ctx.ns_id
    else:
        assert req.path is not None  # TrashPurge's rules
        place = await place_of(request, ctx, req.path, members.WRITE)
        if place.path == paths.ROOT:
            target = purging.Target()  # the whole trash of the share mounted there
        else:
            target = await _target(request, place.ns_id, place.path, req.id)
        ns_id = place.ns_id
    files = freed = 0
    done = False
    for _ in range(MAX_STEPS):
        async with db.transaction(request.app[POOL]) as conn:
            j = await Journal.begin(conn, ns_id, Author.of(ctx.caller))
            await members.require(conn, ns_id, ctx.caller.user_id, members.WRITE)
            step = await purging.purge_step(j, target)
            await j.flush()
        files, freed, done = files + step.files, freed + step.freed_bytes, step.done
        if done:
            break
    return respond(request, PurgeResult(files, freed, done).to_wire())


async def _target(request: web.Request, ns_id: int, path: str, trash_id: int | None) -> purging.Target:
    """What a purge of ``path`` (the row ``trash_id`` there, if given) takes; NotFound if nothing."""
    async with db.connection(request.app[POOL]) as conn:
        if trash_id is not None:
            row = await trash_tree.find(conn, ns_id, path, trash_id)
            return purging.Target(row["path"], row["top_id"] or row["id"])
        found = await conn.fetchval(
            "SELECT 1 FROM trash WHERE ns_id = $1 AND (path_key = $2 OR path_key LIKE $3) LIMIT 1",
            ns_id,
            paths.path_key(path),
            like_prefix(paths.path_key(path)),
        )
    if found is None:
        raise NotFound(f"nothing at or below {path} is in the trash")
    return purging.Target(path)

