"""``/static/{hash}/{name}``: the app's scripts, styles and icons, cached for a year.

The hash in the URL is the file's content hash (:func:`.render.static_hashes`): a new
release has new URLs, so a browser never runs an old script against a new server. A URL
whose hash is not the current one still answers the current file, uncached.
"""

from __future__ import annotations

import mimetypes

from aiohttp import web

from protocol.errors import NotFound

from .render import STATIC, STATIC_HASHES

YEAR = 365 * 86400
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".txt": "text/plain"}


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    hashes = request.app[STATIC_HASHES]
    if name not in hashes:  # only the files listed at start-up: no path ever reaches the disk
        raise NotFound(f"no static file {name!r}")
    suffix = "." + name.rsplit(".", 1)[-1]
    ctype = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    cache = f"public, max-age={YEAR}, immutable" if request.match_info["hash"] == hashes[name] else "no-cache"
    resp = web.FileResponse(STATIC / name, headers={"Cache-Control": cache, "Content-Type": f"{ctype}; charset=utf-8"})
    return resp
