"""The metadata server's periodic pruning task (:func:`run_periodically`)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from ..core.periodic import run_every
from .pruner import PruneReport, prune


async def run_periodically(
    pool: asyncpg.Pool,
    *,
    interval: float,
    default_days: int,
    on_report: Callable[[object], None] | None = None,
) -> None:
    """Prune every ``interval`` seconds (with jitter) until cancelled; never raises otherwise.

    Every metadata server process runs this: the advisory lock lets one prune at a time,
    the others skip their turn. ``on_report`` (metrics) gets each turn's report, None (skipped),
    or the exception of a failed run.
    """

    async def one() -> PruneReport | None:
        return await prune(pool, default_days=default_days)

    await run_every(interval, "prune", one, on_report=on_report)
