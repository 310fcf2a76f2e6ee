"""``/s/<token>``: what a share link's visitor sees, signed in or not, with JavaScript or not.

- ``GET /s/<token>``: the linked file (name, size, modified, preview, download) or folder
  (its listing, each file's download, the whole folder as one zip); ``/s/<token>/view/<sub>``
  a file or folder below a linked folder.
- ``/s/<token>/download/<sub>`` streams a file (``Range``), ``/s/<token>/raw/<sub>`` an
  image for its preview, ``/s/<token>/zip/<sub>`` a folder as a zip (:mod:`.archive`).
- ``POST /s/<token>`` takes the password of a protected link (:mod:`.link_access`).

Every request checks the link again (:func:`.link_access.open_link`) and reaches exactly its
subtree (:mod:`metaserver.links.reach`). A view-only link shows listings and previews of text
and images, never a download button, and refuses downloads and zips (403 ``view_only``).
Errors are pages of their own (a gone link: 410 saying why), never the signed-in app's.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from protocol import paths
from protocol.errors import LinkPasswordRequired, NotAFolder, TesseraError, ViewOnly

from ..core import db
from ..core.bodies import body_limit
from ..core.websession import origin_of, public_url
from ..keys import POOL, SETTINGS
from ..links.reach import relative, target_path
from ..links.store import Link
from ..tree import entries
from . import kinds, link_access, render
from .archive import stream_zip
from .blocks import find_version, link_reader
from .browse import MAX_LISTED, listing, text_preview
from .download import attachment_headers, preview_headers, stream_version
from .signin import MAX_FORM, read_form

MAX_PASSWORD_FIELD = 1024


def link_page(handler):
    """Answer a link page's failures with the link's own error page (a password form for a
    protected link not unlocked yet; ``Retry-After`` on 429)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except LinkPasswordRequired as e:
            return _password_form(request, "", e.status)
        except TesseraError as e:
            # messages of the tree name whole paths: a visitor sees none above the link's target
            message = _MESSAGES.get(e.code, e.message)
            context = {"title": _TITLES.get(e.code, "Error"), "code": e.code, "message": message}
            resp = render.page(request, "link_error.html", context, e.status)
            if e.details.get("retry_after") is not None:
                resp.headers["Retry-After"] = str(max(1, int(e.details["retry_after"] + 0.999)))
            return resp

    return wrapped


_MESSAGES = {
    "not_found": "There is no such file or folder in this link.",
    "bad_path": "There is no such file or folder in this link.",
    "is_a_folder": "That is a folder; open it to see what it holds.",
    "not_a_folder": "That is a file, not a folder.",
}
_TITLES = {"link_gone": "Link no longer available", "rate_limited": "Too many requests", "not_found": "Not found"}


def _password_form(request: web.Request, error: str, status: int) -> web.Response:
    return render.page(request, "link_password.html", {"title": "Password needed", "error": error,
                                                       "base": _base(request)}, status)  # fmt: skip


def _base(request: web.Request) -> str:
    return f"/s/{request.match_info['token']}"


async def _entry(request: web.Request, link: Link, path: str):
    async with db.connection(request.app[POOL]) as conn:
        return None if path == paths.ROOT else await entries.get_live(conn, link.ns_id, path)


async def _reach(request: web.Request, action: str) -> tuple[Link, str]:
    link = await link_access.open_link(request, action)
    link_access.require_unlocked(request, link)
    return link, target_path(link, request.match_info.get("sub", ""))


async def _top_name(request: web.Request, link: Link) -> str:
    """The name of the link's target: its folder's or file's; for a namespace's root (a link on a
    shared folder itself), the shared folder's name."""
    if link.path != paths.ROOT:
        return paths.basename(link.path)
    async with db.connection(request.app[POOL]) as conn:
        name = await conn.fetchval("SELECT name FROM namespaces WHERE id = $1 AND kind = 'shared'", link.ns_id)
    return name or "Shared files"


def _crumbs(link: Link, path: str, top: str) -> list[tuple[str, str]]:
    """(name, path relative to the link) from the link's target (named ``top``) down to ``path``."""
    crumbs, so_far = [(top, "")], ""
    for part in [p for p in relative(link, path).split("/") if p]:
        so_far = f"{so_far}/{part}" if so_far else part
        crumbs.append((part, so_far))
    return crumbs


@link_page
async def view(request: web.Request) -> web.StreamResponse:
    link, path = await _reach(request, "view")
    row = await _entry(request, link, path)
    top = await _top_name(request, link)
    base = {"base": _base(request), "link": link, "crumbs": _crumbs(link, path, top), "rel": relative(link, path)}
    if row is not None and row["kind"] == "file":
        return await _file_page(request, link, row, base)
    async with db.connection(request.app[POOL]) as conn:
        rows = await entries.list_children(conn, link.ns_id, paths.path_key(path), "", MAX_LISTED + 1)
    items = [{**e, "rel": relative(link, e["path"])} for e in listing(rows[:MAX_LISTED], "name", False)]
    title = row["path"].rsplit("/", 1)[-1] if row is not None else top
    return render.page(request, "link_folder.html", {**base, "title": title, "entries": items,
                                                     "more": len(rows) > MAX_LISTED})  # fmt: skip


async def _file_page(request: web.Request, link: Link, row, base: dict[str, Any]) -> web.Response:
    meta = entries.metadata(row).to_wire()
    kind = kinds.of(meta["name"])
    text = None
    if kind.preview == "text":
        text = await text_preview(request.app[POOL], link_reader(request, link.id, link.ns_id), link.ns_id, meta)
    file = {k: meta[k] for k in ("name", "size", "modified", "rev")}
    return render.page(request, "link_file.html", {**base, "title": meta["name"], "file": file, "kind": kind,
                                                   "text": text})  # fmt: skip


async def _file_version(request: web.Request, action: str):
    link, path = await _reach(request, action)
    if link.view_only and action == "download":
        raise ViewOnly()
    version = await find_version(request.app[POOL], link.ns_id, path, None)
    return link, version, version.path.rsplit("/", 1)[-1]


@link_page
async def download(request: web.Request) -> web.StreamResponse:
    link, version, name = await _file_version(request, "download")
    return await stream_version(request, link_reader(request, link.id, link.ns_id), version, attachment_headers(name))


@link_page
async def raw(request: web.Request) -> web.StreamResponse:
    """An image for its preview (view-only links too); any other kind only by :func:`download`."""
    link, version, name = await _file_version(request, "preview")
    if kinds.of(name).preview != "image":
        raise ViewOnly("only images are shown inline; download the file instead")
    return await stream_version(request, link_reader(request, link.id, link.ns_id), version, preview_headers(name))


@link_page
async def zip_folder(request: web.Request) -> web.StreamResponse:
    link, path = await _reach(request, "zip")
    if link.view_only:
        raise ViewOnly()
    row = await _entry(request, link, path)
    if row is not None and row["kind"] != "folder":
        raise NotAFolder()
    top = await _top_name(request, link) if path == paths.ROOT else ""
    reader = link_reader(request, link.id, link.ns_id)
    return await stream_zip(request, reader, link.ns_id, row["path"] if row else path, top)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    own = {f"{request.scheme}://{request.host}", origin_of(public_url(request.app[SETTINGS]))}
    return origin is None or origin in own


@body_limit(MAX_FORM)
@link_page
async def unlock(request: web.Request) -> web.StreamResponse:
    """``POST /s/<token>``: the password form; right: a cookie for this link and back to it."""
    link = await link_access.open_link(request, "password")
    if not _same_origin(request):
        return _password_form(request, "This form was sent from another site.", 403)
    given = (await read_form(request)).get("password", "")
    if not given or len(given) > MAX_PASSWORD_FIELD:
        return _password_form(request, "Enter the link's password.", 400)
    if not await link_access.check_password(request, link, given):
        return _password_form(request, "That password is not right.", 401)
    resp = render.redirect(_base(request))
    link_access.set_unlocked(request, resp, link)
    return resp


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/s/{token}", view)
    r.add_post("/s/{token}", unlock)
    r.add_get("/s/{token}/view/{sub:.*}", view)
    r.add_get("/s/{token}/download/{sub:.*}", download)
    r.add_get("/s/{token}/raw/{sub:.*}", raw)
    r.add_get("/s/{token}/zip/{sub:.*}", zip_folder)

