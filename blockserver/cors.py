"""CORS for the web app: a browser's upload PUTs its blocks straight to the block server.

Only the web app's origins (``web_origins``, default: the metadata server's public URL,
:func:`metaserver.core.websession.app_origins`) are let through, with credentials: the
browser sends the session cookie (:data:`~metaserver.core.websession.SESSION_COOKIE`),
which :func:`blockserver.access.authenticate` takes in place of a bearer token only from
those origins. A block request still needs its grant, which only the metadata server
hands out, to the signed-in page.
"""

from __future__ import annotations

from aiohttp import web

from protocol.errors import Forbidden

from .keys import BLOCK_SETTINGS

ALLOW_METHODS = "GET, HEAD, PUT"
ALLOW_HEADERS = "Content-Type, X-Tessera-Grant"
#: how long a browser may cache a preflight answer (seconds)
PREFLIGHT_MAX_AGE = "600"


def allowed_origin(request: web.Request) -> str | None:
    """The request's ``Origin`` if it is one of the web app's, else None."""
    origin = request.headers.get("Origin")
    if origin and origin in request.app[BLOCK_SETTINGS].web_origins:
        return origin
    return None


def _allow(headers, origin: str) -> None:
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Allow-Credentials"] = "true"


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer to the web app's origin may be read by its page
    (error bodies too); ``Vary: Origin`` keeps caches from mixing answers of two origins."""
    response.headers.add("Vary", "Origin")
    origin = allowed_origin(request)
    if origin is not None:
        _allow(response.headers, origin)


async def preflight(request: web.Request) -> web.Response:
    """``OPTIONS /v1/blocks/{block_id}``: the browser asks before a PUT with a grant header.

    403 ``forbidden`` for any origin but the web app's (the browser then never sends the request).
    """
    origin = allowed_origin(request)
    if origin is None:
        raise Forbidden("this origin may not send blocks here (only the web app's, --public-url)")
    resp = web.Response(status=204)
    resp.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
    resp.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    resp.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return resp
