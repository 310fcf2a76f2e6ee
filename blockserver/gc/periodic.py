"""The block server's periodic garbage collection task."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import asyncpg

from protocol.errors import TesseraError

from ..stores.base import BlockStore
from .collector import collect
from .options import GcOptions

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 3600.0
#: the first run comes this long (at most) after start, later ones every interval
FIRST_RUN_DELAY = 300.0
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
    delay = min(interval, FIRST_RUN_DELAY)
    while True:
        await asyncio.sleep(delay * random.uniform(0.75, 1.0))
        delay = interval
        now = time.monotonic()
        sweep = last_sweep is None or now - last_sweep >= sweep_interval
        try:
            report = await collect(pool, store, GcOptions(grace=grace, sweep_store=sweep))
        except TesseraError as e:
            log.warning("gc: run failed: %s", e.message)
            if on_report is not None:
                on_report(e)
            continue
        except Exception as e:
            log.exception("gc: run failed")
            if on_report is not None:
                on_report(e)
            continue
        if on_report is not None:
            on_report(report)
        if report is None:
            log.debug("gc: another process is collecting; skipped")
            continue
        if report.store_swept:
            last_sweep = now
        log.info("gc: %s", " ".join(f"{k}={v}" for k, v in report.as_dict().items() if k != "dry_run"))
