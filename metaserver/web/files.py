"""File and folder endpoints: metadata, block lists, listing, mkdir, delete, move (share links
follow what they open: :mod:`metaserver.links.follow`).

Every path is the caller's: it is resolved through their mounts to a namespace and a path
inside it (:mod:`metaserver.sharing.places`), their role there is checked (a write again under
the namespace's lock), and the paths of the answer are theirs again."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from protocol import paths
from protocol.errors import AlreadyExists, BadPath, BadRequest, IsAFolder, IsAMount, NotAFolder, NotFound
from protocol.messages.blocks import RemoteBlock
from protocol.messages.files import ListPage, Metadata

from ..core import db, members
from ..core.bodies import KIB, body_limit, read_object
from ..core.callers import Context
from ..core.grants import get_grant
from ..core.http import MAX_BIGINT, MAX_INT, positive_int, query_int, respond
from ..core.settings import ServerSettings
from ..keys import POOL, SETTINGS
from ..links.follow import follow
from ..sharing import crossmove
from ..sharing.places import Place, locate, mounts_of, resolve
from ..tree import entries, ops
from ..tree.journal import Author, Journal
from .auth import authenticate


def query_path(request: web.Request, name: str = "path") -> str:
    raw = request.query.get(name)
    if raw is None:
        raise BadRequest(f"the query parameter {name!r} is required")
    return paths.normalize(raw)


async def _body_fields(request: web.Request, *names: str) -> list[str]:
    body = await read_object(request)
    return [paths.normalize(body.get(n)) for n in names]


async def place_of(request: web.Request, ctx: Context, path: str, need: str = members.READ) -> Place:
    """Where the caller's ``path`` is, if their role there allows ``need``."""
    async with db.connection(request.app[POOL]) as conn:
        return await resolve(conn, ctx, path, need)


def _root_metadata(place: Place) -> Metadata:
    meta = place.out(entries.ROOT_METADATA)
    return dataclasses.replace(meta, shared=True, ns_id=place.ns_id, role=place.role) if place.prefix else meta


async def get_metadata(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    place = await place_of(request, ctx, query_path(request))
    if place.path == paths.ROOT:
        return respond(request, _root_metadata(place).to_wire())
    async with db.connection(request.app[POOL]) as conn:
        row = await entries.get_live(conn, place.ns_id, place.path)
    return respond(request, place.out(entries.metadata(row)).to_wire())


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
        mounts = await mounts_of(conn, ctx.caller.user_id)
        place = locate(ctx.ns_id, mounts, path)  # as resolve() does, from the mounts just read
        place.need(members.READ)
        if place.path != paths.ROOT:
            folder = await entries.get_live(conn, place.ns_id, place.path)
            if folder["kind"] != "folder":
                raise NotAFolder(f"{place.outer(folder['path'])} is a file, not a folder")
        rows = await entries.list_children(conn, place.ns_id, paths.path_key(place.path), after, limit + 1)
    found = [(r["path_key"], place.out(entries.metadata(r))) for r in rows]
    if not place.prefix:  # the shares mounted in this folder of the home tree look like folders in it
        key = paths.path_key(path)
        found += [(paths.path_key(m.path), m.metadata()) for m in mounts if paths.path_key(paths.parent(m.path)) == key]
        found = sorted((f for f in found if f[0] > after), key=lambda f: f[0])[: limit + 1]
    has_more = len(found) > limit
    found = found[:limit]
    cursor = _encode_cursor(found[-1][0]) if found else request.query.get("cursor", "")
    return respond(request, ListPage([meta for _, meta in found], cursor, has_more).to_wire())


def remote_block(settings: ServerSettings, user_id: int, b: Any, ns_id: int) -> RemoteBlock:
    """One block of a version's block list (a row idx, id, size, md5, sha256), with a get grant
    for namespace ``ns_id``."""
    return RemoteBlock(
        b["idx"],
        b["id"],
        b["size"],
        bytes(b["md5"]).hex(),
        bytes(b["sha256"]).hex(),
        get_grant(settings, user_id, b["id"], b["size"], ns_id),
    )


async def file_blocks(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    settings = request.app[SETTINGS]
    path = query_path(request)
    start = query_int(request, "start", 0, 0, MAX_INT)
    limit = query_int(request, "limit", 1000, 1, 1000)
    rev = query_int(request, "rev", 0, 0, MAX_BIGINT) or None
    place = await place_of(request, ctx, path)
    async with db.connection(request.app[POOL]) as conn:
        if rev is None:
            if place.path == paths.ROOT:
                raise IsAFolder(f"{path} is a folder")
            row = await entries.get_live(conn, place.ns_id, place.path)
            if row["kind"] != "file":
                raise IsAFolder(f"{row['path']} is a folder")
            rev = row["rev"]
        version = await conn.fetchrow(
            f"SELECT {entries.VERSION_PAGE_COLUMNS} FROM versions WHERE id = $1 AND ns_id = $2",
            rev,
            place.ns_id,
        )
        if version is None:
            raise NotFound(f"no revision {rev}")
        blocks = await entries.version_blocks(conn, rev, start, limit)
    out = [remote_block(settings, ctx.caller.user_id, b, place.ns_id) for b in blocks]
    return respond(request, place.out(entries.version_page(version, start, out, list(settings.block_urls))).to_wire())


async def journaled(
    request: web.Request, ctx: Context, change: Callable[[Journal], Awaitable[Metadata]], place: Place
) -> web.Response:
    """Apply one change to the namespace of ``place`` in a transaction with its journal, the
    caller's right to write there checked under its lock; answer what it returns, in the
    caller's paths."""
    async with db.transaction(request.app[POOL]) as conn:
        j = await Journal.begin(conn, place.ns_id, Author.of(ctx.caller))
        await members.require(conn, place.ns_id, ctx.caller.user_id, members.WRITE)
        meta = await change(j)
        await j.flush()
    return respond(request, place.out(meta).to_wire())


async def writable(request: web.Request, ctx: Context, path: str, what: str) -> Place:
    """Where ``path`` is, if the caller may write there and it is not a mount point (nor, in the
    home tree, a folder holding one)."""
    async with db.connection(request.app[POOL]) as conn:
        mounts = await mounts_of(conn, ctx.caller.user_id)
    place = locate(ctx.ns_id, mounts, path)  # as resolve() does, from the mounts just read
    place.need(members.WRITE)
    if place.is_mount_root or (not place.prefix and any(paths.is_within(m.path, path) for m in mounts)):
        raise IsAMount(f"cannot {what} {path}: it is or holds a shared folder (see `tessera share`)")
    return place


async def mkdir(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    (path,) = await _body_fields(request, "path")
    place = await place_of(request, ctx, path, members.WRITE)
    if place.is_mount_root:
        raise AlreadyExists(f"{place.prefix} already exists (a shared folder)")
    return await journaled(request, ctx, lambda j: ops.mkdir(j, place.path), place)


async def delete(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    body = await read_object(request)
    path = paths.normalize(body.get("path"))
    if_rev = positive_int(body, "if_rev", optional=True)
    place = await writable(request, ctx, path, "delete")
    return await journaled(request, ctx, lambda j: ops.delete(j, place.path, if_rev), place)


@body_limit(32 * KIB)  # two paths
async def move(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    src, dst = await _body_fields(request, "from", "to")
    src_place = await writable(request, ctx, src, "move")
    dst_place = await writable(request, ctx, dst, "move onto")
    if src_place.ns_id == dst_place.ns_id:

        async def change(j: Journal) -> Metadata:
            meta = await ops.move(j, src_place.path, dst_place.path)
            await follow(j.conn, j.ns_id, src_place.path, j.ns_id, meta.path)  # its links go with it
            return meta

        return await journaled(request, ctx, change, src_place)
    async with db.transaction(request.app[POOL]) as conn:
        meta = await crossmove.move(conn, ctx, src_place, dst_place)
    return respond(request, meta.to_wire())


@body_limit(32 * KIB)  # two paths
async def copy(request: web.Request) -> web.Response:
    """A copy of a file or folder (or a whole shared folder) the caller can read, at a path they
    can write: in the same namespace or another, no byte is uploaded again."""
    ctx = await authenticate(request)
    src, dst = await _body_fields(request, "from", "to")
    if dst == paths.ROOT:
        raise BadPath("cannot copy onto /")
    src_place = await place_of(request, ctx, src, members.READ)
    dst_place = await writable(request, ctx, dst, "copy onto")
    async with db.transaction(request.app[POOL]) as conn:
        meta = await crossmove.copy(conn, ctx, src_place, dst_place)
    return respond(request, meta.to_wire())
