"""Block stores wrapping a real one, to watch it or inject faults into it.

They delegate every call to the real store and only add what a test needs to
see or provoke: when a put finished and how, a hook during a put, a read that
fails after the first piece.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from blockserver.stores.base import BlockStore, BlockStream
from protocol.hashing import BlockHash


class ObservedStore(BlockStore):
    """Records the outcome of each put and how many ran at once; runs ``before_publish``
    once a put's body is consumed."""

    def __init__(
        self, inner: BlockStore, before_publish: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        self.inner = inner
        self.before_publish = before_publish
        self.puts_done: asyncio.Queue[BaseException | None] = asyncio.Queue()
        self.in_flight = 0
        self.most_in_flight = 0
        #: the block ids opened for reading (each GET of a block), in order
        self.reads: list[str] = []

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def put(self, block_id: str, body: AsyncIterator[bytes], expected: BlockHash) -> None:
        async def watched() -> AsyncIterator[bytes]:
            async for piece in body:
                yield piece
            if self.before_publish is not None:
                await self.before_publish(block_id)

        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.inner.put(block_id, watched(), expected)
        except BaseException as e:
            self.puts_done.put_nowait(e)
            raise
        finally:
            self.in_flight -= 1
        self.puts_done.put_nowait(None)

    async def next_put(self) -> BaseException | None:
        """The outcome of the next put to finish: None, or what it raised."""
        async with asyncio.timeout(10):
            return await self.puts_done.get()

    async def open(self, block_id: str) -> tuple[int, BlockStream]:
        self.reads.append(block_id)
        return await self.inner.open(block_id)

    async def size(self, block_id: str) -> int:
        return await self.inner.size(block_id)

    async def exists(self, block_id: str) -> bool:
        return await self.inner.exists(block_id)

    async def delete(self, block_id: str) -> None:
        await self.inner.delete(block_id)

    def list_ids(self) -> AsyncIterator[str]:
        return self.inner.list_ids()

    async def read_aside(self, name: str) -> bytes | None:
        return await self.inner.read_aside(name)

    async def write_aside(self, name: str, data: bytes) -> None:
        await self.inner.write_aside(name, data)

    async def delete_aside(self, name: str) -> None:
        await self.inner.delete_aside(name)


class FailingReadStore(ObservedStore):
    """Reads fail with an I/O error after the first piece of every block."""

    async def open(self, block_id: str) -> tuple[int, BlockStream]:
        size, stream = await self.inner.open(block_id)
        return size, _FailAfterFirstPiece(stream)


class _FailAfterFirstPiece(BlockStream):
    def __init__(self, inner: BlockStream) -> None:
        self.inner = inner
        self.pieces = 0

    async def __anext__(self) -> bytes:
        if self.pieces:
            raise OSError(5, "Input/output error (injected)")
        self.pieces += 1
        return await anext(self.inner)

    async def aclose(self) -> None:
        await self.inner.aclose()
