"""A light long-poll client for the ``longpoll`` scenario: one raw asyncio connection per poll.

An aiohttp client spends more time reading 10,000 answers than the server
spends writing them, and would measure itself. Here each poll is a bare
``asyncio.Protocol`` that writes one pre-built ``GET`` when connected and
stamps ``time.perf_counter()`` as soon as the whole answer (head and
Content-Length body) has arrived; connections stay open until the round ends.
Arriving, an answer costs only the check that it is whole (the end of its
head, its Content-Length, that many body bytes); its status and JSON body
are decoded after the round, so the harness (on the same cores as the server)
reads the 10,000th answer sooner and the stamp still means "the client has
the whole answer".
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from urllib.parse import urlencode

from yarl import URL


def build_request(url: str, query: dict[str, str], token: str) -> bytes:
    """One keep-alive ``GET`` of ``url`` with ``query`` and a bearer token, as bytes."""
    u = URL(url)
    target = f"{u.raw_path}?{urlencode(query)}"
    return (
        f"GET {target} HTTP/1.1\r\nHost: {u.host}:{u.port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\nUser-Agent: tessera-bench\r\n\r\n"
    ).encode("latin-1")


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class RawPoll(asyncio.Protocol):
    """One poll: sends its request on connect, records when its answer arrived."""

    __slots__ = ("_request", "_buf", "transport", "answered", "status", "body", "error", "done")

    def __init__(self, request: bytes, done: asyncio.Future[None]) -> None:
        self._request = request
        self._buf = b""
        self.transport: asyncio.Transport | None = None
        #: perf_counter() when the whole answer had arrived
        self.answered: float | None = None
        self.status = 0
        self.body: object = None
        self.error: str | None = None
        self.done = done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if self.answered is not None:
            return
        buf = self._buf = self._buf + data if self._buf else data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        m = _CONTENT_LENGTH.search(buf, 0, end + 2)
        if len(buf) < end + 4 + (int(m[1]) if m else 0):
            return
        self.answered = time.perf_counter()
        if not self.done.done():
            self.done.set_result(None)

    def parse(self) -> None:
        """Decode the answer's status and body (after the round: not on the clock)."""
        if self.answered is None or self.status:
            return
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        m = _CONTENT_LENGTH.search(buf, 0, end + 2)
        body = buf[end + 4 : end + 4 + (int(m[1]) if m else 0)]
        self.status = int(buf[: buf.find(b"\r\n")].split()[1])
        try:
            self.body = json.loads(body)
        except ValueError:
            self.body = body

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answered is None:
            self.error = f"connection lost: {exc!r}" if exc else "connection closed before the answer"
            if not self.done.done():
                self.done.set_result(None)

    def outcome(self) -> str:
        self.parse()
        if self.error is not None:
            return f"error: {self.error}"
        if self.answered is None:
            return "unanswered"
        if self.status == 200 and isinstance(self.body, dict) and self.body.get("changes") is True:
            return "changes"
        return f"other: {self.status} {self.body!r}"[:200]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_polls(
    host: str, port: int, request: bytes, n: int, ramp: int
) -> tuple[list[RawPoll], list[asyncio.Task[None]]]:
    """Open ``n`` polls, at most ``ramp`` connecting at once; returns them and their connect tasks."""
    loop = asyncio.get_running_loop()
    polls: list[RawPoll] = []
    gate = asyncio.Semaphore(ramp)

    async def connect(p: RawPoll) -> None:
        async with gate:
            await loop.create_connection(lambda: p, host, port)

    for _ in range(n):
        polls.append(RawPoll(request, loop.create_future()))
    tasks = [asyncio.create_task(connect(p)) for p in polls]
    return polls, tasks


async def commit_and_wait(polls: list[RawPoll], commit, answer_timeout: float) -> tuple[int, float, float]:
    """Run ``commit()`` (one change that should wake every poll) and wait up to ``answer_timeout`` for the
    answers; returns (polls answered before it, when it started, how long it took)."""
    early = sum(p.done.done() for p in polls)
    t0 = time.perf_counter()
    await commit()
    took = time.perf_counter() - t0
    waiting = [p.done for p in polls if not p.done.done()]
    if waiting:
        await asyncio.wait(waiting, timeout=answer_timeout)
    return early, t0, took


def send_floor(answer_bytes: int, pairs: int = 2_000, passes: int = 3) -> float:
    """Seconds one ``send`` of an answer this size takes on a loopback TCP connection, here and now.

    The baseline of the scenario: a bare loop sending one answer to each of
    ``pairs`` connected sockets (TCP_NODELAY, as the server's), median of
    ``passes``; N times this is what writing N answers costs one thread at the
    least. Blocking: run it in a thread.
    """
    import socket
    import statistics

    data = b"x" * answer_bytes
    listener = socket.socket()
    clients: list[socket.socket] = []
    servers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(pairs)
        port = listener.getsockname()[1]
        for _ in range(pairs):
            clients.append(socket.create_connection(("127.0.0.1", port)))
            conn, _addr = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            servers.append(conn)
        times = []
        for _ in range(passes):
            t0 = time.perf_counter()
            for s in servers:
                s.send(data)
            times.append((time.perf_counter() - t0) / pairs)
            for c in clients:
                c.recv(answer_bytes * 2)
        return statistics.median(times)
    finally:
        for s in (*clients, *servers, listener):
            s.close()
