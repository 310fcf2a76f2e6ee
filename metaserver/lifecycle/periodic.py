"""The metadata server's periodic pruning task (:func:`run_periodically`)."""

from __future__ import annotations

import asyncpg

from ..core.periodic import run_every
from .pruner import PruneReport, prune


async def run_periodically(pool: asyncpg.Pool, *, interval: float, default_days: int) -> None:
    """Prune every ``interval`` seconds (with jitter) until cancelled; never raises otherwise.

    Every metadata server process runs this: the advisory lock lets one prune at a time,
    the others skip their turn.
    """

    async def one() -> PruneReport | None:
        return await prune(pool, default_days=default_days)

    await run_every(interval, "prune", one)
