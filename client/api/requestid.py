"""The request id the client sends with every request (``X-Request-Id``), one per operation.

Every request of one operation (an upload: its session, block PUTs and commit; a download;
a batch) carries the same id, so the servers' log lines of that operation can be found
together, on the metadata server and every block server. :func:`operation` opens one (the
whole-file transfers are :func:`in_operation`); a request made outside any operation gets an id of its own.
Tasks started inside an operation inherit its id (asyncio copies the context).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

HEADER = "X-Request-Id"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("tessera_operation", default=None)


def new_id() -> str:
    return secrets.token_hex(8)


@contextlib.contextmanager
def operation(request_id: str | None = None) -> Iterator[str]:
    """Every request made inside carries ``request_id`` (default: a new one); yields it."""
    rid = request_id or new_id()
    token = _current.set(rid)
    try:
        yield rid
    finally:
        _current.reset(token)


def current() -> str:
    """The id of the operation under way, or a new one for a lone request."""
    return _current.get() or new_id()


def with_request_id(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus the request id (a new dict)."""
    return {**headers, HEADER: current()}


def in_operation(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Decorate a coroutine function: each call is one operation (one request id)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with operation():
            return await fn(*args, **kwargs)

    return wrapper
