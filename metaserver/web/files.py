"""File and folder endpoints: metadata, block lists, listing, mkdir, delete, move."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from protocol import paths
from protocol.errors import BadRequest, IsAFolder, NotAFolder, NotFound
from protocol.messages.blocks import RemoteBlock
from protocol.messages.files import ListPage, Metadata

from ..core import db
from ..core.bodies import KIB, body_limit, read_object
from ..core.grants import get_grant
from ..core.http import MAX_BIGINT, MAX_INT, positive_int, query_int, respond
from ..core.settings import ServerSettings
from ..keys import POOL, SETTINGS
from ..tree import entries, ops
from ..tree.journal import Journal
from .auth import authenticate


def query_path(request: web.Request, name: str = "path") -> str:
    raw = request.query.get(name)
    if raw is None:
        raise BadRequest(f"the query parameter {name!r} is required")
    return paths.normalize(raw)


async def _body_fields(request: web.Request, *names: str) -> list[str]:
    body = await read_object(request)
    return [paths.normalize(body.get(n)) for n in names]


async def get_metadata(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    path = query_path(request)
    if path == paths.ROOT:
        return respond(request, entries.ROOT_METADATA.to_wire())
    async with db.connection(request.app[POOL]) as conn:
        row = await entries.get_live(conn, ctx.ns_id, path)
    return respond(request, entries.metadata(row).to_wire())


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def _decode_cursor(cursor: str) -> str:
    try:
        key = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        raise BadRequest("the cursor is not valid") from None
    if "\x00" in key or len(key) > paths.MAX_PATH_BYTES:  # a path key has neither
        raise BadRequest("the cursor is not valid")
    return key


async def list_folder(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    path = query_path(request)
    limit = query_int(request, "limit", 500, 1, 2000)
    after = _decode_cursor(request.query["cursor"]) if request.query.get("cursor") else ""
    async with db.connection(request.app[POOL]) as conn:
        if path != paths.ROOT:
            folder = await entries.get_live(conn, ctx.ns_id, path)
            if folder["kind"] != "folder":
                raise NotAFolder(f"{folder['path']} is a file, not a folder")
        rows = await entries.list_children(conn, ctx.ns_id, paths.path_key(path), after, limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    cursor = _encode_cursor(rows[-1]["path_key"]) if rows else request.query.get("cursor", "")
    return respond(request, ListPage([entries.metadata(r) for r in rows], cursor, has_more).to_wire())


def remote_block(settings: ServerSettings, user_id: int, b: Any) -> RemoteBlock:
    """One block of a version's block list (a row idx, id, size, md5, sha256), with a get grant."""
    return RemoteBlock(
        b["idx"],
        b["id"],
        b["size"],
        bytes(b["md5"]).hex(),
        bytes(b["sha256"]).hex(),
        get_grant(settings, user_id, b["id"], b["size"]),
    )


async def file_blocks(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    settings = request.app[SETTINGS]
    path = query_path(request)
    start = query_int(request, "start", 0, 0, MAX_INT)
    limit = query_int(request, "limit", 1000, 1, 1000)
    rev = query_int(request, "rev", 0, 0, MAX_BIGINT) or None
    async with db.connection(request.app[POOL]) as conn:
        if rev is None:
            if path == paths.ROOT:
                raise IsAFolder("the root is a folder")
            row = await entries.get_live(conn, ctx.ns_id, path)
            if row["kind"] != "file":
                raise IsAFolder(f"{row['path']} is a folder")
            rev = row["rev"]
        version = await conn.fetchrow(
            f"SELECT {entries.VERSION_PAGE_COLUMNS} FROM versions WHERE id = $1 AND ns_id = $2",
            rev,
            ctx.ns_id,
        )
        if version is None:
            raise NotFound(f"no revision {rev}")
        blocks = await entries.version_blocks(conn, rev, start, limit)
    out = [remote_block(settings, ctx.caller.user_id, b) for b in blocks]
    return respond(request, entries.version_page(version, start, out, list(settings.block_urls)).to_wire())


async def journaled(
    request: web.Request, ns_id: int, change: Callable[[Journal], Awaitable[Metadata]]
) -> web.Response:
    """Apply one change to a namespace in a transaction with its journal; answer its metadata."""
    async with db.transaction(request.app[POOL]) as conn:
        j = await Journal.begin(conn, ns_id)
        meta = await change(j)
        await j.flush()
    return respond(request, meta.to_wire())


async def _tree_change(request: web.Request, change, *fields: str) -> web.Response:
    """Apply one tree change (mkdir, move) whose arguments are the body's paths ``fields``."""
    ctx = await authenticate(request)
    args = await _body_fields(request, *fields)
    return await journaled(request, ctx.ns_id, lambda j: change(j, *args))


async def mkdir(request: web.Request) -> web.Response:
    return await _tree_change(request, ops.mkdir, "path")


async def delete(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    body = await read_object(request)
    path = paths.normalize(body.get("path"))
    if_rev = positive_int(body, "if_rev", optional=True)
    return await journaled(request, ctx.ns_id, lambda j: ops.delete(j, path, if_rev))


@body_limit(32 * KIB)  # two paths
async def move(request: web.Request) -> web.Response:
    return await _tree_change(request, ops.move, "from", "to")
