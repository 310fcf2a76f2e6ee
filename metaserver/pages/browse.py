"""``/files/{path}``: a folder's listing, or a file's page (preview, versions, actions).

Rendered on the server from the same tree the API reads; the page's script adds the
dialogs (which call the API), uploads, locale formatting and live updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from aiohttp import web

from protocol import paths
from protocol.errors import NotFound

from ..changes import tree_feed
from ..core import db, members
from ..core.callers import Context
from ..keys import POOL, SETTINGS
from ..sharing.places import Mount, Place, locate, mounts_of
from ..tree import entries, history
from ..web.auth import authenticate
from . import kinds, render
from .blocks import BlockReader, find_version, reader_for
from .middleware import browser_block_url
from .paths import breadcrumbs, url_tree_path

#: the most entries a folder page lists (a note says when there are more)
MAX_LISTED = 5000
SORTS = ("name", "size", "modified")
#: the revisions a file's page lists
MAX_REVISIONS = 100


def _sort_key(sort: str):
    def key(e: dict[str, Any]):
        folder_first = e["kind"] != "folder"
        if sort == "size":
            return (folder_first, e.get("size") or 0, e["name"].casefold())
        if sort == "modified":
            return (folder_first, e.get("modified") or 0, e["name"].casefold())
        return (folder_first, e["name"].casefold())

    return key


def listing(
    rows: list[asyncpg.Record], sort: str, descending: bool, place: Place | None = None, mounts: Sequence[Mount] = ()
) -> list[dict[str, Any]]:
    """The entries of a folder page, in the caller's paths (``place``: the folder's) with the
    shares ``mounts`` in it, which look like folders."""
    out = []
    for meta in [place.out(entries.metadata(r)) if place else entries.metadata(r) for r in rows] + [
        m.metadata() for m in mounts
    ]:
        wire = meta.to_wire()
        wire["icon"] = "shared" if wire.get("shared") else kinds.of(wire["name"], wire["kind"] == "folder").icon
        out.append(wire)
    out.sort(key=_sort_key(sort), reverse=descending)
    if descending:  # folders stay first
        out.sort(key=lambda e: e["kind"] != "folder")
    return out


async def authenticated(request: web.Request) -> Context:
    """The signed-in caller of a page (and what the page shows as its user)."""
    ctx = await authenticate(request)
    request[render.PAGE_CONTEXT] = ctx
    return ctx


def sharing_context(place: Place, path: str) -> dict[str, Any]:
    """What a page shows and offers about sharing at ``path``: the share it is in (its mount path,
    "" in the home tree), the caller's role there, whether they may change things (upload,
    rename, delete, make links) and whether this folder may be shared (or its share managed)."""
    return {
        "share": place.prefix,
        "role": place.role,
        "can_write": members.allows(place.role, members.WRITE),
        "shareable": path != paths.ROOT and (not place.prefix or place.is_mount_root),
    }


def _mounts_in(mounts: Sequence[Mount], place: Place, path: str) -> list[Mount]:
    """The shares mounted right in the home tree's folder ``path`` (none inside a share)."""
    if place.prefix:
        return []
    key = paths.path_key(path)
    return [m for m in mounts if paths.path_key(paths.parent(m.path)) == key]


async def files(request: web.Request) -> web.StreamResponse:
    """A folder or a file of the caller's tree: their home, or a share mounted in it (read
    through their mounts with their role checked, as the API does)."""
    ctx = await authenticated(request)
    path = url_tree_path(request)
    async with db.connection(request.app[POOL]) as conn:
        mounts = await mounts_of(conn, ctx.caller.user_id)
        place = locate(ctx.ns_id, mounts, path)
        place.need(members.READ)
        row = None if place.path == paths.ROOT else await entries.get_live(conn, place.ns_id, place.path)
        cursor = (await tree_feed.latest(conn, tree_feed.tree_of(ctx.ns_id, mounts))).encode()
        if row is not None and row["kind"] == "file":
            return await _file_page(request, conn, ctx, place, row, cursor)
        rows = await entries.list_children(conn, place.ns_id, paths.path_key(place.path), "", MAX_LISTED + 1)
    sort = request.query.get("sort", "name")
    sort = sort if sort in SORTS else "name"
    descending = request.query.get("order") == "desc"
    path = place.outer(row["path"]) if row is not None else path
    return render.page(request, "folder.html", {
        "title": paths.basename(path) or "Files",
        "path": path,
        "crumbs": breadcrumbs(path),
        "entries": listing(rows[:MAX_LISTED], sort, descending, place, _mounts_in(mounts, place, path)),
        "more": len(rows) > MAX_LISTED,
        "sort": sort,
        "descending": descending,
        "cursor": cursor,
        "block_servers": [browser_block_url(request, u) for u in request.app[SETTINGS].block_urls],
        **sharing_context(place, path),
    })  # fmt: skip


async def _file_page(request: web.Request, conn, ctx: Context, place: Place, row, cursor: str) -> web.Response:
    inner = entries.metadata(row)
    meta = place.out(inner).to_wire()
    kind = kinds.of(meta["name"])
    try:
        found = await history.revisions(conn, place.ns_id, inner.path, MAX_REVISIONS)
        revs = [place.out(r).to_wire() for r in found.revisions]
    except NotFound:
        revs = []
    text = await _text_preview(request, ctx, place.ns_id, inner.to_wire()) if kind.preview == "text" else None
    return render.page(request, "file.html", {
        "title": meta["name"],
        "path": meta["path"],
        "crumbs": breadcrumbs(meta["path"]),
        "file": meta,
        "kind": kind,
        "text": text,
        "revisions": revs,
        "cursor": cursor,
        **sharing_context(place, meta["path"]),
    })  # fmt: skip


async def _text_preview(request: web.Request, ctx: Context, ns_id: int, meta: dict[str, Any]) -> dict[str, Any]:
    return await text_preview(request.app[POOL], reader_for(request, ctx, ns_id), ns_id, meta)


async def text_preview(pool: asyncpg.Pool, reader: BlockReader, ns_id: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The first bytes of a text file, decoded (undecodable bytes shown as such)."""
    if meta["size"] == 0:
        return {"body": "", "cut": False}
    version = await find_version(pool, ns_id, meta["path"], meta["rev"])
    last = min(version.size, kinds.TEXT_PREVIEW_BYTES) - 1
    data = b"".join([piece async for piece in reader.pieces(pool, version.rev, 0, last)])
    return {"body": data.decode("utf-8", errors="replace"), "cut": version.size > kinds.TEXT_PREVIEW_BYTES}
