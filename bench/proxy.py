"""A byte-counting TCP proxy on 127.0.0.1, to measure what a client really sends.

Every accepted connection is piped to the upstream server; bytes are counted
per direction and per *kind* of connection, the kind being the HTTP method of
the connection's first request (``PUT``, ``GET``, ``POST``...). Two clients
whose sessions do different things (one uploads blocks, the other downloads
them) are thereby counted apart even though they go through one proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PIPE_CHUNK = 256 * 1024


@dataclass
class ByteCounts:
    """Bytes client -> server (``up``) and back (``down``), keyed by connection kind."""

    up: Counter[str] = field(default_factory=Counter)
    down: Counter[str] = field(default_factory=Counter)
    connections: Counter[str] = field(default_factory=Counter)

    def total_up(self) -> int:
        return sum(self.up.values())

    def total_down(self) -> int:
        return sum(self.down.values())

    def copy(self) -> ByteCounts:
        return ByteCounts(Counter(self.up), Counter(self.down), Counter(self.connections))

    def __sub__(self, other: ByteCounts) -> ByteCounts:
        # Counter subtraction drops non-positive counts, which is what a delta wants here
        return ByteCounts(self.up - other.up, self.down - other.down, self.connections - other.connections)

    def to_json(self) -> dict[str, object]:
        return {
            "up": dict(self.up),
            "down": dict(self.down),
            "connections": dict(self.connections),
            "total_up": self.total_up(),
            "total_down": self.total_down(),
        }


def _kind_of(first: bytes) -> str:
    method = first.split(b" ", 1)[0]
    return method.decode("ascii", "replace") if method.isalpha() and len(method) <= 8 else "other"


class CountingProxy:
    """Listens on 127.0.0.1 (ephemeral port); the upstream may be named after it starts listening."""

    def __init__(self, upstream: tuple[str, int] | None = None) -> None:
        self.counts = ByteCounts()
        self._upstream = upstream
        self._upstream_known = asyncio.Event()
        if upstream is not None:
            self._upstream_known.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_upstream(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._upstream_known.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CountingProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def snapshot(self) -> ByteCounts:
        return self.counts.copy()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.debug("proxy connection ended: %s", e)
        except asyncio.CancelledError:
            # close() cancels open connections; asyncio.start_server would log a cancelled handler
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(PIPE_CHUNK)
        if not first:
            return
        kind = _kind_of(first)
        await asyncio.wait_for(self._upstream_known.wait(), 60)
        assert self._upstream is not None
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self.counts.connections[kind] += 1
        self.counts.up[kind] += len(first)
        up_writer.write(first)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pipe(reader, up_writer, self.counts.up, kind))
                tg.create_task(self._pipe(up_reader, writer, self.counts.down, kind))
        except* (ConnectionError, OSError) as eg:
            log.debug("proxy pipe ended: %s", eg.exceptions[0])
        finally:
            up_writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await up_writer.wait_closed()

    @staticmethod
    async def _pipe(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, counter: Counter[str], kind: str
    ) -> None:
        while data := await src.read(PIPE_CHUNK):
            counter[kind] += len(data)
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            with contextlib.suppress(OSError):
                dst.write_eof()
