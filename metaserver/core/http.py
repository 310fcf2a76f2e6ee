"""aiohttp pieces both servers use: the error middleware and answer encoding (bodies: :mod:`.bodies`).

Every domain error becomes its status with ``{"error": {code, message}}``;
anything unexpected is logged and becomes a bare 500 ``internal``.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from aiohttp import web

from protocol import codec
from protocol.errors import (
    BadRequest,
    BodyTooLarge,
    Internal,
    TesseraError,
    Unavailable,
)

log = logging.getLogger(__name__)


def respond(request: web.Request, obj: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    ctype = codec.pick_response_type(request.headers.get("Accept"), request.headers.get("Content-Type"))
    return web.Response(body=codec.encode(obj, ctype), status=status, content_type=ctype, headers=headers)


def error_headers(err: TesseraError) -> dict[str, str]:
    """The headers an error's answer carries besides its body (``Retry-After`` when it says when)."""
    retry_after = err.details.get("retry_after") if err.details else None
    return {} if retry_after is None else {"Retry-After": str(max(1, int(retry_after + 0.999)))}


def error_response(request: web.Request, err: TesseraError) -> web.Response:
    return respond(request, err.to_wire(), status=err.status, headers=error_headers(err))


#: the largest integer a request may carry where the database keeps a ``bigint`` / an ``integer``
MAX_BIGINT = (1 << 63) - 1
MAX_INT = (1 << 31) - 1


def positive_int(body: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    """The field ``name`` of a request body: a positive integer that fits a ``bigint`` (or
    absent/null if ``optional``)."""
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_BIGINT:
        raise BadRequest(f"{name} must be a positive integer up to {MAX_BIGINT}" + (" or null" if optional else ""))
    return value


#: set on a request once its response is prepared (status line and headers on their way)
_PREPARED = web.RequestKey("tessera.response_prepared", bool)
#: the access log status of a request whose client went away before the answer
CLIENT_CLOSED = 499


async def note_prepared(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` signal handler: lets the error middleware know an answer has started."""
    request[_PREPARED] = True


def _answer_started(request: web.Request) -> bool:
    # the signal is the public way; output_size also covers an app that did not register it
    return bool(request.get(_PREPARED)) or request.writer.output_size > 0


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ConnectionError as exc:
        if not isinstance(exc, ConnectionResetError) and not _client_gone(request):
            # a refused or broken connection to something we talk to, the client still there
            if _answer_started(request):
                raise
            return _error_answer(request, exc)
        # a reset, or the client's own connection lost while a write waited (aiohttp raises a
        # plain ConnectionError then, e.g. a browser that stops a download)
        if not _client_gone(request) and not _answer_started(request):
            # not the client's connection (something we talk to reset ours): a failure like any other
            log.exception("unhandled error in %s %s", request.method, request.path)
            return error_response(request, Internal())
        # the client went away mid-request: nothing can be answered. Returned, not raised,
        # so aiohttp does not log it as an error; with the transport closed, this answer is
        # never written (not after an answer that had started either)
        log.debug("%s %s: client connection lost: %s", request.method, request.path, exc)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=CLIENT_CLOSED, reason="Client Closed Request")
    except Exception as exc:
        if _answer_started(request):
            # a second answer would land inside the body of the first: re-raise, so
            # aiohttp logs it and closes the connection (the client sees a short body)
            raise
        return _error_answer(request, exc)


def _error_answer(request: web.Request, exc: Exception) -> web.StreamResponse:
    if isinstance(exc, TesseraError):
        if isinstance(exc, Internal) or exc.status == 507:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        elif isinstance(exc, Unavailable):
            # an outage is logged once where it is met (db.DatabaseStatus); the access log has each 503
            log.debug("%s %s: %s", request.method, request.path, exc.message)
        resp = error_response(request, exc)
        if isinstance(exc, BodyTooLarge):
            resp.force_close()  # rather than read (and throw away) the rest of a body that is too large
        return resp
    if isinstance(exc, web.HTTPException):
        if exc.status == 404:
            return error_response(request, _not_found(request))
        if exc.status == 405:
            return error_response(request, _bad_method(request))
        if exc.status == 413:
            resp = error_response(request, BodyTooLarge())
            resp.force_close()
            return resp
        raise exc
    if isinstance(exc, asyncpg.exceptions.DataError):
        # a value the database cannot take (out of range, NUL, not UTF-8) that no check caught
        # before: the request's fault, so a 4xx; logged, as the check belongs at the edge
        log.warning("%s %s: the database refused a value: %s", request.method, request.path, exc)
        return error_response(request, BadRequest("a value in the request is out of range or not valid text"))
    log.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return error_response(request, Internal())


def _not_found(request: web.Request) -> TesseraError:
    from protocol.errors import NotFound

    return NotFound(f"no such endpoint: {request.method} {request.path}")


def _bad_method(request: web.Request) -> TesseraError:
    from protocol.errors import BadRequest

    return BadRequest(f"method {request.method} is not allowed on {request.path}")


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    return parse_int(request.query.get(name), name, default, lo, hi)


def parse_int(raw: str | None, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter ``name`` in [lo, hi] (``default`` if absent); BadRequest otherwise."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value
