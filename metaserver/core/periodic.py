"""Background work on an interval, in any server process: garbage collection in the block
servers (blockserver/gc/), pruning in the metadata servers (metaserver/lifecycle/)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from protocol.errors import TesseraError

log = logging.getLogger(__name__)

#: the first run comes this long (at most) after start, later ones every interval
FIRST_RUN_DELAY = 300.0


async def run_every(
    interval: float,
    what: str,
    run: Callable[[], Awaitable[Any]],
    *,
    on_report: Callable[[object], None] | None = None,
) -> None:
    """Call ``run()`` every ``interval`` seconds (with jitter) until cancelled; never raises otherwise.

    ``run`` answers a report (with ``as_dict()``), which is logged, or None when another process
    holds the run's advisory lock (several processes may run this; one works at a time, the
    others skip their turn). Failures are logged and the next turn comes as usual.
    ``on_report`` (metrics) gets each turn's report, None, or the exception of a failed run.
    """
    delay = min(interval, FIRST_RUN_DELAY)
    while True:
        await asyncio.sleep(delay * random.uniform(0.75, 1.0))
        delay = interval
        try:
            report = await run()
        except Exception as e:
            if isinstance(e, TesseraError):
                log.warning("%s: run failed: %s", what, e.message)
            else:
                log.exception("%s: run failed", what)
            if on_report is not None:
                on_report(e)
            continue
        if on_report is not None:
            on_report(report)
        if report is None:
            log.debug("%s: another process is running it; skipped", what)
            continue
        log.info("%s: %s", what, " ".join(f"{k}={v}" for k, v in report.as_dict().items() if k != "dry_run"))


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run ``coro`` as a task while the block runs; cancel it (and wait for it) at the end.

    For an application's ``cleanup_ctx``: the task lives exactly as long as the application.
    """
    task = asyncio.create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # a run_every task logs its own failures
