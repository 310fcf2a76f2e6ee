"""A TCP proxy on 127.0.0.1 that injects network faults between a client and a server.

- ``cut(after=N, connections=K, direction=...)``: each of the next K
  connections is aborted (RST) once N bytes have passed in that direction
  ("up": client to server, "down": server to client).
- ``pause_at(N)``: once N more bytes have gone up (over all connections), the
  proxy stops forwarding until ``resume()``; ``paused`` is set meanwhile. A test
  restarts the server behind it at that moment, mid-transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

PIECE = 64 * 1024


class FaultyProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.url = ""
        self.connections = 0
        self.cuts = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut_after = 0
        self._cut_left = 0
        self._cut_direction = "up"
        self._pause_at: int | None = None
        self.paused = asyncio.Event()
        self._resume = asyncio.Event()
        self._resume.set()

    async def start(self) -> FaultyProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.resume()
        # abort the connections and let the handlers end on their own (a cancelled
        # start_server handler is logged as an error by asyncio)
        for w in list(self._writers):
            w.transport.abort()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    def cut(self, *, after: int, connections: int, direction: str = "up") -> None:
        assert direction in ("up", "down")
        self._cut_after, self._cut_left, self._cut_direction = after, connections, direction

    def pause_at(self, more_bytes: int) -> None:
        self._pause_at = self.bytes_up + more_bytes
        self.paused.clear()

    def resume(self) -> None:
        self._pause_at = None
        self._resume.set()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self._writers.add(client_w)
        cut_at = None
        if self._cut_left > 0:
            self._cut_left -= 1
            cut_at = self._cut_after
        try:
            try:
                server_r, server_w = await asyncio.open_connection(*self.target)
            except OSError:
                client_w.transport.abort()  # the server is down: the client sees a reset
                return
            self._writers.add(server_w)
            writers = (client_w, server_w)
            up = asyncio.create_task(
                self._pump(client_r, server_w, "up", cut_at if self._cut_direction == "up" else None, writers)
            )
            down = asyncio.create_task(
                self._pump(server_r, client_w, "down", cut_at if self._cut_direction == "down" else None, writers)
            )
            try:
                await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (up, down):
                    t.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
                for w in writers:
                    w.transport.abort()
                self._writers.discard(server_w)
        finally:
            self._writers.discard(client_w)
            self._tasks.discard(task)

    async def _pump(self, reader, writer, direction: str, cut_at: int | None, writers) -> None:
        passed = 0
        try:
            while True:
                if direction == "up":
                    await self._resume.wait()
                piece = await reader.read(PIECE)
                if not piece:
                    return
                if direction == "up" and self._pause_at is not None and self.bytes_up + len(piece) >= self._pause_at:
                    keep = max(0, self._pause_at - self.bytes_up)
                    piece, held = piece[:keep], piece[keep:]
                    await self._send(writer, piece, direction)
                    passed += len(piece)
                    self._pause_at = None
                    self._resume.clear()
                    self.paused.set()
                    await self._resume.wait()
                    piece = held
                if cut_at is not None and passed + len(piece) >= cut_at:
                    await self._send(writer, piece[: cut_at - passed], direction)
                    self.cuts += 1
                    for w in writers:
                        w.transport.abort()
                    return
                await self._send(writer, piece, direction)
                passed += len(piece)
        except (ConnectionError, OSError):
            return

    async def _send(self, writer: asyncio.StreamWriter, piece: bytes, direction: str) -> None:
        if not piece:
            return
        writer.write(piece)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        if direction == "up":
            self.bytes_up += len(piece)
        else:
            self.bytes_down += len(piece)
