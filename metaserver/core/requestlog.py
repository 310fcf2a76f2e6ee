"""One log line and the metrics of every request; the request id that ties them together.

The outermost middleware of both servers (:func:`observe_middleware`) takes the request id
the client sent in ``X-Request-Id`` (the client library sends one per operation, so the
metadata requests and block transfers of one upload share it) or makes one, sends it back
in the answer's ``X-Request-Id``, keeps it in a context variable for every log record made
while the request runs (:class:`RequestIdFilter`), and when the handler is done logs one line
on the ``tessera.access`` logger: method, route, status, bytes in and out, duration, user id
and request id (as ``extra`` fields too, which the JSON log format writes as keys).
Health checks and ``/metrics`` scrapes are logged at DEBUG, everything else at INFO.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from .metrics import METRICS, route_of

REQUEST_ID_HEADER = "X-Request-Id"
#: a request id a client may choose: short, and nothing that could forge a log line
_VALID_ID = re.compile(r"^[A-Za-z0-9._:+=@/-]{1,128}$")
#: routes polled by load balancers and Prometheus: their lines are DEBUG
QUIET_ROUTES = frozenset({"/metrics", "/v1/health", "/v1/health/live", "/v1/health/ready"})

access_log = logging.getLogger("tessera.access")


@dataclass(slots=True)
class RequestInfo:
    """What the log line of the request being handled needs to learn while it runs."""

    request_id: str
    user_id: int | None = None


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar("tessera_request", default=None)
_INFO = web.RequestKey("tessera.request_info", RequestInfo)


def new_request_id() -> str:
    return secrets.token_hex(8)


def request_id_from(header: str | None) -> str:
    """The client's request id if it is a sane one, else a new one."""
    if header and _VALID_ID.match(header):
        return header
    return new_request_id()


def note_user(user_id: int) -> None:
    """The request being handled is by ``user_id`` (called where a token is checked)."""
    info = _current.get()
    if info is not None:
        info.user_id = user_id


def current_request_id() -> str | None:
    info = _current.get()
    return info.request_id if info is not None else None


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` attribute: the id of the request being handled, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


async def send_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the answer names the request id."""
    info = request.get(_INFO)
    if info is not None:
        response.headers[REQUEST_ID_HEADER] = info.request_id


def _bytes_out(request: web.Request, response: web.StreamResponse | None) -> int:
    if response is None or request.method == "HEAD":
        return 0
    if response.content_length is not None:  # announced (a sendfile'd block bypasses the writer's count)
        return response.content_length
    return response.body_length if response.prepared else 0  # streamed: headers included, roughly


@web.middleware
async def observe_middleware(request: web.Request, handler):
    """Request id, one access log line and the request metrics (the outermost middleware)."""
    info = RequestInfo(request_id_from(request.headers.get(REQUEST_ID_HEADER)))
    request[_INFO] = info
    token = _current.set(info)
    start = time.perf_counter()
    response: web.StreamResponse | None = None
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        status = 499  # the client went away
        raise
    finally:
        seconds = time.perf_counter() - start
        route = route_of(request)
        bytes_in = getattr(request.content, "total_bytes", 0)  # what arrived, read or not
        bytes_out = _bytes_out(request, response)
        metrics = request.app.get(METRICS)
        if metrics is not None:
            metrics.observe_request(request.method, route, status, seconds, bytes_in, bytes_out)
        _log(request, route, status, seconds, bytes_in, bytes_out, info)
        _current.reset(token)


def _log(
    request: web.Request, route: str, status: int, seconds: float, bytes_in: int, bytes_out: int, info: RequestInfo
) -> None:
    level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    shown = route if route != "unmatched" else request.path[:200]
    access_log.log(
        level,
        "%s %s %d in=%d out=%d %.1fms user=%s rid=%s",
        request.method, shown, status, bytes_in, bytes_out, seconds * 1000, info.user_id or "-", info.request_id,
        extra={
            "method": request.method, "route": shown, "status": status, "bytes_in": bytes_in,
            "bytes_out": bytes_out, "duration_ms": round(seconds * 1000, 3), "user_id": info.user_id,
            "request_id": info.request_id, "remote": request.remote,
        },
    )  # fmt: skip
