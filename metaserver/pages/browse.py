"""``/files/{path}``: a folder's listing, or a file's page (preview, versions, actions).

Rendered on the server from the same tree the API reads; the page's script adds the
dialogs (which call the API), uploads, locale formatting and live updates.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from protocol import paths
from protocol.errors import NotFound

from ..changes import feed
from ..core import db
from ..core.callers import Context
from ..keys import POOL, SETTINGS
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


def listing(rows: list[asyncpg.Record], sort: str, descending: bool) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        meta = entries.metadata(row).to_wire()
        meta["icon"] = kinds.of(meta["name"], meta["kind"] == "folder").icon
        out.append(meta)
    out.sort(key=_sort_key(sort), reverse=descending)
    if descending:  # folders stay first
        out.sort(key=lambda e: e["kind"] != "folder")
    return out


async def authenticated(request: web.Request) -> Context:
    """The signed-in caller of a page (and what the page shows as its user)."""
    ctx = await authenticate(request)
    request[render.PAGE_CONTEXT] = ctx
    return ctx


async def files(request: web.Request) -> web.StreamResponse:
    ctx = await authenticated(request)
    path = url_tree_path(request)
    async with db.connection(request.app[POOL]) as conn:
        row = None if path == paths.ROOT else await entries.get_live(conn, ctx.ns_id, path)
        cursor = (await feed.latest(conn, ctx.ns_id)).encode()
        if row is not None and row["kind"] == "file":
            return await _file_page(request, conn, ctx, row, cursor)
        rows = await entries.list_children(conn, ctx.ns_id, paths.path_key(path), "", MAX_LISTED + 1)
    sort = request.query.get("sort", "name")
    sort = sort if sort in SORTS else "name"
    descending = request.query.get("order") == "desc"
    path = row["path"] if row is not None else path
    return render.page(request, "folder.html", {
        "title": paths.basename(path) or "Files",
        "path": path,
        "crumbs": breadcrumbs(path),
        "entries": listing(rows[:MAX_LISTED], sort, descending),
        "more": len(rows) > MAX_LISTED,
        "sort": sort,
        "descending": descending,
        "cursor": cursor,
        "block_servers": [browser_block_url(request, u) for u in request.app[SETTINGS].block_urls],
    })  # fmt: skip


async def _file_page(request: web.Request, conn, ctx: Context, row, cursor: str) -> web.Response:
    meta = entries.metadata(row).to_wire()
    kind = kinds.of(meta["name"])
    try:
        revs = (await history.revisions(conn, ctx.ns_id, meta["path"], MAX_REVISIONS)).to_wire()["revisions"]
    except NotFound:
        revs = []
    text = await _text_preview(request, ctx, meta) if kind.preview == "text" else None
    return render.page(request, "file.html", {
        "title": meta["name"],
        "path": meta["path"],
        "crumbs": breadcrumbs(meta["path"]),
        "file": meta,
        "kind": kind,
        "text": text,
        "revisions": revs,
        "cursor": cursor,
    })  # fmt: skip


async def _text_preview(request: web.Request, ctx: Context, meta: dict[str, Any]) -> dict[str, Any]:
    return await text_preview(request.app[POOL], reader_for(request, ctx), ctx.ns_id, meta)


async def text_preview(pool: asyncpg.Pool, reader: BlockReader, ns_id: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The first bytes of a text file, decoded (undecodable bytes shown as such)."""
    if meta["size"] == 0:
        return {"body": "", "cut": False}
    version = await find_version(pool, ns_id, meta["path"], meta["rev"])
    last = min(version.size, kinds.TEXT_PREVIEW_BYTES) - 1
    data = b"".join([piece async for piece in reader.pieces(pool, version.rev, 0, last)])
    return {"body": data.decode("utf-8", errors="replace"), "cut": version.size > kinds.TEXT_PREVIEW_BYTES}
