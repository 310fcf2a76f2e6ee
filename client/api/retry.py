"""The retry policy: which failures are retried, how often, how long to wait.

Every request the client makes goes through :func:`call_with_retry`, the one
place that decides. Transient failures (connection refused or reset, timeouts,
5xx, 429 and error kinds marked ``retryable``) are retried with exponential
backoff and jitter, bounded both in attempts and in total time, and a server's
``Retry-After`` is honoured. Permanent errors (most 4xx) are raised at once.

A request that is not idempotent is retried only when the server certainly did
not act on it: the connection could not be made, or the server answered
503/429. A connection lost mid-request or a 500 could mean it did.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from protocol.errors import GrantExpired, Internal, RateLimited, TesseraError, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a transient failure is retried. ``attempts`` counts the first try too."""

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    #: give up once this many seconds have passed since the first try
    deadline: float = 90.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay or self.deadline < 0:
            raise ValueError("delays and deadline must be non-negative, max_delay >= base_delay")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (1-based): exponential, with equal jitter."""
        cap = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return cap / 2 + (rng or random).uniform(0, cap / 2)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


def is_transient(err: TesseraError, *, idempotent: bool) -> bool:
    """Whether sending the same request again may succeed (and is safe)."""
    if isinstance(err, GrantExpired):
        return False  # needs a fresh grant, not the same request again
    if getattr(err, "request_sent", True) is False:
        return True  # never reached the server
    if isinstance(err, RateLimited) or type(err) is Unavailable:
        return True  # the server answered "not now": it did nothing
    if not idempotent:
        return False
    return err.retryable or isinstance(err, Internal)


def retry_after(err: TesseraError) -> float | None:
    """The server's ``Retry-After`` (seconds) carried on an error, if any."""
    value = err.details.get("retry_after") if err.details else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


async def call_with_retry(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[T]],
    *,
    idempotent: bool,
    what: str,
    rng: random.Random | None = None,
) -> T:
    """Run ``attempt(n)`` for n = 1, 2, ... until it succeeds or the policy gives up.

    ``attempt`` gets the attempt number so it can, for example, try another
    block server on each retry. The last error is raised unchanged.
    """
    started = time.monotonic()
    n = 0
    while True:
        n += 1
        try:
            return await attempt(n)
        except TesseraError as err:
            if n >= policy.attempts or not is_transient(err, idempotent=idempotent):
                raise
            delay = policy.backoff(n, rng)
            hint = retry_after(err)
            if hint is not None:
                delay = max(delay, hint)
            if time.monotonic() - started + delay > policy.deadline:
                raise
            log.info(
                "%s failed (%s: %s); retry %d/%d in %.2fs",
                what,
                err.code,
                err.message,
                n,
                policy.attempts - 1,
                delay,
            )
            await asyncio.sleep(delay)
