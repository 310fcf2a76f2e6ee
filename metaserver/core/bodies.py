"""Request bodies: a limit per route, read and decoded within it.

Every route has a body limit sized to what it needs: a handler declares its own with
:func:`body_limit`; a route that declares none gets :data:`DEFAULT_LIMIT` (small), so a
route added later is safe by default. :func:`body_limit_middleware` refuses a body whose
``Content-Length`` is over the limit before a byte of it is read (413 ``body_too_large``,
and the connection is closed rather than the rest read), and :func:`read_body` stops
reading a body without a length at the limit. Decoding is bounded too
(:class:`protocol.codec.DecodeLimits`: values, string and container lengths, no NUL or lone
surrogates), so a request costs at most a small multiple of its limit in memory. Bodies of
routes whose limit is over :data:`LARGE_BODY` are read and decoded at most
:data:`LARGE_BODY_SLOTS` at a time per application, which bounds what all of them cost
together.

A route that streams its body (the block PUT, the block batch) declares
``body_limit(..., streamed=True)``: the middleware checks the length it announces and the
handler reads the body itself, bounded by what it was granted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from protocol import codec
from protocol.errors import BadRequest, BodyTooLarge, UnsupportedMediaType

KIB = 1024
MIB = 1024 * KIB
#: the limit of a route that declares none (a few paths in JSON, with every character escaped)
DEFAULT_LIMIT = 16 * KIB
#: routes whose limit is over this read their bodies a few at a time (per application)
LARGE_BODY = 1 * MIB
LARGE_BODY_SLOTS = 2
#: pieces a body is read in
_READ_PIECE = 256 * KIB


@dataclass(frozen=True, slots=True)
class BodyLimit:
    max_bytes: int
    decode: codec.DecodeLimits
    #: the handler reads the body itself (the middleware only checks the announced length)
    streamed: bool = False


def body_limit(max_bytes: int, *, max_container_len: int | None = None, streamed: bool = False) -> Callable:
    """Declare a handler's body limit (bytes); ``max_container_len``: the longest list it takes."""
    limit = BodyLimit(max_bytes, codec.DecodeLimits.for_body(max_bytes, max_container_len=max_container_len), streamed)

    def declare(handler: Callable) -> Callable:
        handler.body_limit = limit  # type: ignore[attr-defined]
        return handler

    return declare


_DEFAULT = BodyLimit(DEFAULT_LIMIT, codec.DecodeLimits.for_body(DEFAULT_LIMIT))
_LIMIT = web.RequestKey("tessera.body_limit", BodyLimit)
LARGE_BODIES = web.AppKey("tessera.large_bodies", asyncio.Semaphore)


def route_limit(request: web.Request) -> BodyLimit:
    """The body limit of the route the request matched (:data:`DEFAULT_LIMIT` if it declares none)."""
    handler = request.match_info.route.handler
    limit = getattr(handler, "body_limit", None)
    return limit if isinstance(limit, BodyLimit) else _DEFAULT


def declared_limits(app: web.Application) -> dict[tuple[str, str], int]:
    """(method, path template) -> body limit of every route of ``app`` (for docs and tests)."""
    out = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        limit = getattr(route.handler, "body_limit", _DEFAULT)
        out[(route.method, path)] = limit.max_bytes
    return out


def add_large_body_slots(app: web.Application) -> None:
    app[LARGE_BODIES] = asyncio.Semaphore(LARGE_BODY_SLOTS)


@web.middleware
async def body_limit_middleware(request: web.Request, handler):
    """Refuse a body announced over the route's limit before reading it; bound large ones' concurrency."""
    limit = route_limit(request)
    request[_LIMIT] = limit
    length = request.content_length
    if length is not None and length > limit.max_bytes:
        raise BodyTooLarge(f"the body is {length} bytes; this route takes at most {limit.max_bytes}")
    slots = request.app.get(LARGE_BODIES)
    if slots is None or limit.streamed or limit.max_bytes <= LARGE_BODY or not request.body_exists:
        return await handler(request)
    async with slots:
        return await handler(request)


async def _read_limited(request: web.Request, max_bytes: int) -> bytes:
    content = request.content
    pieces: list[bytes] = []
    total = 0
    while True:
        piece = await content.read(_READ_PIECE)
        if not piece:
            return b"".join(pieces)
        total += len(piece)
        if total > max_bytes:
            raise BodyTooLarge(f"the body is larger than the {max_bytes} bytes this route takes")
        pieces.append(piece)


async def read_body(request: web.Request) -> Any:
    """Decode a msgpack or JSON request body, within the route's limits."""
    ctype = codec.media_type(request.headers.get("Content-Type"))
    if ctype not in codec.CONTENT_TYPES:
        raise UnsupportedMediaType()
    limit = request.get(_LIMIT) or route_limit(request)
    data = await _read_limited(request, limit.max_bytes)
    return codec.decode(data, ctype, limit.decode)


async def read_object(request: web.Request) -> dict[str, Any]:
    """:func:`read_body` that must be an object (BadRequest otherwise)."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be an object")
    return body
