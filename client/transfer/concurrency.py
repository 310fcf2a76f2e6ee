"""Running a bounded number of transfers at once, and blocking calls in worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()

#: runs a blocking call in a worker thread (e.g. the sync daemon's: SQLite, disk operations)
Offload = Callable[..., Awaitable[Any]]


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The first real failure in an exception group (cancellations only if nothing else)."""
    leaves: list[BaseException] = []

    def walk(eg: BaseExceptionGroup) -> None:
        for e in eg.exceptions:
            if isinstance(e, BaseExceptionGroup):
                walk(e)
            else:
                leaves.append(e)

    walk(group)
    for e in leaves:
        if not isinstance(e, asyncio.CancelledError):
            return e
    return leaves[0] if leaves else group


async def bounded_map(
    items: Iterable[T] | AsyncIterable[T], fn: Callable[[T], Awaitable[None]], *, limit: int
) -> None:
    """Run ``fn(item)`` for every item with at most ``limit`` running at once.

    Items are pulled lazily (at most ``limit`` queued ahead), so a huge or paged
    source never becomes a huge list of tasks. The first failure cancels the
    rest and is raised as itself, not wrapped in an exception group.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=limit)

    async def produce() -> None:
        if isinstance(items, AsyncIterable):
            aclose = getattr(items, "aclose", None)
            try:
                async for item in items:
                    await queue.put(item)
            finally:
                if aclose is not None:
                    await aclose()
        else:
            for item in items:
                await queue.put(item)
        for _ in range(limit):
            await queue.put(_DONE)

    async def work() -> None:
        while (item := await queue.get()) is not _DONE:
            await fn(item)  # type: ignore[arg-type]

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(produce())
            for _ in range(limit):
                tg.create_task(work())
    except BaseExceptionGroup as eg:
        raise first_error(eg) from None


async def open_in_thread(open_fn: Callable[[], R], release: Callable[[R], object]) -> R:
    """Run ``open_fn`` (which acquires something: an fd, a temp file) in a worker thread.

    A thread cannot be stopped: if the caller is cancelled meanwhile, what
    ``open_fn`` acquires is released by ``release`` as soon as it is ready,
    instead of leaking.
    """
    fut = asyncio.ensure_future(asyncio.to_thread(open_fn))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:

        def release_when_ready(f: asyncio.Future[R]) -> None:
            if not f.cancelled() and f.exception() is None:
                release(f.result())

        fut.add_done_callback(release_when_ready)
        raise
