"""Rendering pages: the Jinja2 environment (autoescape on), its filters, and the error page.

Templates and static files are package data beside this module. Static URLs carry a
hash of the file's content (``/static/<hash>/app.js``), so they can be cached for a year
and a new release is fetched at once.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web

from protocol.errors import BodyTooLarge, TesseraError

from ..core.callers import Context
from ..core.http import error_headers
from ..keys import SETTINGS
from . import session

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_HASHES = web.AppKey("static_hashes", dict)
#: what the page shows as the signed-in user (set by the handler that authenticated)
PAGE_CONTEXT = web.RequestKey("page_context", Context)


def static_hashes() -> dict[str, str]:
    """Each static file's name and the first 12 hex digits of its SHA-256."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in sorted(STATIC.iterdir()) if p.is_file()
    }


def url_path(path: str) -> str:
    """A tree path as a URL path, every character that means something in a URL escaped."""
    return quote(path, safe="/")


def human_size(size: int | None) -> str:
    """A size in bytes as a short text (the page's script rewrites it in the user's locale)."""
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    exp = min(int(math.log(size, 1024)), 5)
    return f"{size / 1024**exp:.1f} {'KMGTP'[exp - 1]}iB"


def utc_time(ts: float | None) -> str:
    """A time as UTC ISO 8601 (the page's script shows it in the user's locale and zone)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(url_path=url_path, human_size=human_size, utc_time=utc_time, iso_time=iso_time)
    app[STATIC_HASHES] = static_hashes()


def _page_globals(request: web.Request) -> dict[str, Any]:
    hashes = request.app[STATIC_HASHES]
    ctx = request.get(PAGE_CONTEXT)
    token = session.session_token(request)
    csrf = session.csrf_token(request.app[SETTINGS].grant_secret, token) if token and ctx else ""
    return {
        "static": lambda name: f"/static/{hashes[name]}/{name}",
        "user": ctx.caller.user_name if ctx else None,
        "csrf": csrf,
        "here": request.path,
    }


def page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, {**_page_globals(request), **context}, status=status)


def error_page(request: web.Request, err: TesseraError) -> web.Response:
    """``err`` as a page, with the headers its JSON answer would carry (``Retry-After``), and a
    closed connection after a body that is too large (as :mod:`..core.http` does)."""
    resp = page(request, "error.html", {"title": "Error", "code": err.code, "message": err.message}, err.status)
    resp.headers.update(error_headers(err))
    if isinstance(err, BodyTooLarge):
        resp.force_close()  # rather than read (and throw away) the rest of the body
    return resp


def redirect(location: str) -> web.Response:
    """``303 See Other`` to ``location`` (a path of this site)."""
    return web.Response(status=303, headers={"Location": location})
