"""aiohttp pieces both servers use: the error middleware and body encoding.

Every domain error becomes its status with ``{"error": {code, message}}``;
anything unexpected is logged and becomes a bare 500 ``internal``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from protocol import codec
from protocol.errors import (
    BodyTooLarge,
    Internal,
    TesseraError,
    Unavailable,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)


def respond(request: web.Request, obj: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    ctype = codec.pick_response_type(request.headers.get("Accept"), request.headers.get("Content-Type"))
    return web.Response(body=codec.encode(obj, ctype), status=status, content_type=ctype, headers=headers)


def error_response(request: web.Request, err: TesseraError) -> web.Response:
    headers = {}
    retry_after = err.details.get("retry_after") if err.details else None
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return respond(request, err.to_wire(), status=err.status, headers=headers)


async def read_body(request: web.Request) -> Any:
    """Decode a msgpack or JSON request body (bounded by the app's client_max_size)."""
    ctype = codec.media_type(request.headers.get("Content-Type"))
    if ctype not in codec.CONTENT_TYPES:
        raise UnsupportedMediaType()
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(f"request body larger than {request.app._client_max_size} bytes") from None
    return codec.decode(data, ctype)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except TesseraError as err:
        if isinstance(err, (Internal, Unavailable)):
            log.warning("%s %s: %s", request.method, request.path, err.message)
        return error_response(request, err)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(request, _not_found(request))
        if exc.status == 405:
            return error_response(request, _bad_method(request))
        if exc.status == 413:
            return error_response(request, BodyTooLarge())
        raise
    except ConnectionResetError as exc:
        # the client went away mid-request: nothing to answer
        log.info("%s %s: connection lost: %s", request.method, request.path, exc)
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(request, Internal())


def _not_found(request: web.Request) -> TesseraError:
    from protocol.errors import NotFound

    return NotFound(f"no such endpoint: {request.method} {request.path}")


def _bad_method(request: web.Request) -> TesseraError:
    from protocol.errors import BadRequest

    return BadRequest(f"method {request.method} is not allowed on {request.path}")


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    from protocol.errors import BadRequest

    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value
