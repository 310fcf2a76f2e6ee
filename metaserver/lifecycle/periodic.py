"""The metadata server's periodic pruning task (:func:`run_periodically`)."""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from protocol.errors import TesseraError

from .pruner import prune

log = logging.getLogger(__name__)

#: the first run comes this long (at most) after start, later ones every interval
FIRST_RUN_DELAY = 300.0


async def run_periodically(pool: asyncpg.Pool, *, interval: float, default_days: int) -> None:
    """Prune every ``interval`` seconds (with jitter) until cancelled; never raises otherwise.

    Every metadata server process runs this: the advisory lock lets one prune at a time,
    the others skip their turn.
    """
    delay = min(interval, FIRST_RUN_DELAY)
    while True:
        await asyncio.sleep(delay * random.uniform(0.75, 1.0))
        delay = interval
        try:
            report = await prune(pool, default_days=default_days)
        except TesseraError as e:
            log.warning("prune: run failed: %s", e.message)
            continue
        except Exception:
            log.exception("prune: run failed")
            continue
        if report is None:
            log.debug("prune: another process is pruning; skipped")
            continue
        log.info("prune: %s", " ".join(f"{k}={v}" for k, v in report.as_dict().items() if k != "dry_run"))
