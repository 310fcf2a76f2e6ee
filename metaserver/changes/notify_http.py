"""The answers of the notify endpoint as ready-to-write HTTP/1.1 bytes.

Status line, headers and body are built here; the answers every poll shares
(``{"changes": true}`` and friends, :mod:`metaserver.changes.longpoll`) are built once
per second, content type and connection handling, so a wake-up of N polls
writes the same bytes N times and builds them once.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from protocol import codec
from protocol.errors import TesseraError
from protocol.messages.changes import LongPoll

from . import longpoll as polls


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b"Unknown"


def build(status: int, ctype: str, body: bytes, date: bytes, *, keep_alive: bool, extra: bytes = b"") -> bytes:
    """One whole HTTP/1.1 answer (``extra``: more header lines, each ending in CRLF)."""
    return b"".join((
        b"HTTP/1.1 %d %s\r\n" % (status, _reason(status)),
        b"Content-Type: ", ctype.encode("ascii"), b"\r\n",
        b"Content-Length: %d\r\n" % len(body),
        b"Date: ", date, b"\r\n",
        b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n",
        extra,
        b"\r\n",
        body,
    ))  # fmt: skip


class Answers:
    """Builds answers, keeping the shared ones for the current second (the Date header's)."""

    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._second = -1
        self._date = b""
        self._shared: dict[tuple[int, str, bool], bytes] = {}

    def _now(self) -> bytes:
        second = int(self._clock())
        if second != self._second:
            self._second = second
            self._date = formatdate(second, usegmt=True).encode("ascii")
            self._shared.clear()
        return self._date

    def shared(self, answer: LongPoll, ctype: str, keep_alive: bool) -> bytes:
        """The whole HTTP answer of one of the shared long-poll answers (``polls.CHANGED``, ...)."""
        date = self._now()
        key = (id(answer), ctype, keep_alive)
        data = self._shared.get(key)
        if data is None:
            data = self._shared[key] = build(200, ctype, polls.encoded(answer, ctype), date, keep_alive=keep_alive)
        return data

    def body(self, status: int, ctype: str, body: bytes, keep_alive: bool) -> bytes:
        """Any other answer (health, metrics): ``body`` as it is."""
        return build(status, ctype, body, self._now(), keep_alive=keep_alive)

    def error(self, err: TesseraError, ctype: str, keep_alive: bool) -> bytes:
        """An error answer: the error's status and ``{"error": {code, message}}`` as the other routes send it."""
        extra = b""
        retry_after = err.details.get("retry_after") if err.details else None
        if retry_after is not None:
            extra = b"Retry-After: %d\r\n" % max(1, int(retry_after + 0.999))
        body = codec.encode(err.to_wire(), ctype)
        return build(err.status, ctype, body, self._now(), keep_alive=keep_alive, extra=extra)
