"""The block server's periodic garbage collection task."""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

from metaserver.core.periodic import run_every

from ..stores.base import BlockStore
from .collector import collect
from .options import GcOptions, GcReport

DEFAULT_INTERVAL = 3600.0
#: the store (every object) is listed at most this often by the periodic task
STORE_SWEEP_INTERVAL = 24 * 3600.0


async def run_periodically(
    pool: asyncpg.Pool,
    store: BlockStore,
    *,
    interval: float,
    grace: float,
    sweep_interval: float = STORE_SWEEP_INTERVAL,
    on_report: Callable[[object], None] | None = None,
) -> None:
    """Collect every ``interval`` seconds (with jitter) until cancelled; never raises otherwise.

    Several processes may run this: the advisory lock lets one collect at a
    time, the others skip their turn. The store is swept on the first run and
    then at most every ``sweep_interval`` seconds, as listing it costs one
    request per 1,000 objects on S3. ``on_report`` gets each run's report (None: a turn
    skipped because another process was collecting; the exception of a run that failed).
    """
    last_sweep: float | None = None

    async def one() -> GcReport | None:
        nonlocal last_sweep
        now = time.monotonic()
        sweep = last_sweep is None or now - last_sweep >= sweep_interval
        report = await collect(pool, store, GcOptions(grace=grace, sweep_store=sweep))
        if report is not None and report.store_swept:
            last_sweep = now
        return report

    await run_every(interval, "gc", one, on_report=on_report)
