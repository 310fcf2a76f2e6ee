"""Running blocking calls off the event loop without losing track of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_to_completion(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` in the default executor and wait for it to finish, even if cancelled.

    ``asyncio.to_thread`` gives up waiting when the caller is cancelled, while
    the thread goes on using whatever it was handed (a file being written, a
    buffer being filled). Cleanup code that then closes or removes that file
    would race with it. This waits for the thread to be done before letting a
    cancellation through, so that whatever runs next has the resource to itself.
    """
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, lambda: fn(*args, **kwargs))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        # the thread cannot be interrupted: wait for it, then let the cancellation through
        with contextlib.suppress(BaseException):
            await fut
        raise
