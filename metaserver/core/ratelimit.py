"""Rate limits of the metadata server: token buckets, in this process.

- Every request with a bearer token draws from that token's bucket
  (``rate_limit`` per second, up to ``rate_burst`` at once). The bucket is keyed
  by the token's hash and checked before the token is looked up, so a flood
  costs no database work.
- ``POST /v1/auth/login`` (and ``POST /v1/auth/password``, which checks the old
  password) draws from a bucket per (client address, user name), to slow password
  guessing, and from a bucket per client address across all user names, so that
  one address cannot try one password on many names; a successful login gives
  both tokens back, so only failed attempts count.
- ``GET /v1/search`` also draws from a bucket per user (``search_rate_limit``,
  ``search_burst``), whatever the device: a search costs the database tens of times a
  lookup (metaserver/search/), so a user's searches are bounded apart from their requests.

An empty bucket answers 429 ``rate_limited`` with ``Retry-After``. The buckets
live in each process: N metadata servers behind a load balancer allow up to N
times the rate. Memory is bounded: past ``MAX_KEYS`` buckets, the least
recently used one is dropped (a dropped bucket was full or nearly so).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from aiohttp import web

from protocol.errors import RateLimited, Unauthorized

from .auth import bearer_token, hash_token

MAX_KEYS = 100_000


class RateLimiter:
    """Token buckets by key: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(
        self, rate: float, burst: float, *, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        #: key -> [tokens, time of the last update]
        self._buckets: OrderedDict[Hashable, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable) -> float:
        """Take one token for ``key``: 0.0 if there was one, else the seconds until there is."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self.burst, now]
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return 0.0
        return (1.0 - bucket[0]) / self.rate

    def give_back(self, key: Hashable) -> None:
        """Return a token taken for ``key`` (the attempt turned out not to count)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket[0] = min(self.burst, bucket[0] + 1.0)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limiters of one metadata server application (None: that limit is off)."""

    tokens: RateLimiter | None
    logins: RateLimiter | None
    #: failed logins per client address, whatever the user name
    login_addresses: RateLimiter | None = None
    #: searches per user, whatever the device
    searches: RateLimiter | None = None

    @classmethod
    def from_rates(
        cls,
        rate: float,
        burst: int,
        login_rate: float,
        login_burst: int,
        address_rate: float = 0.0,
        address_burst: int = 1,
        *,
        search_rate: float = 0.0,
        search_burst: int = 1,
    ) -> RateLimits:
        return cls(
            RateLimiter(rate, burst) if rate > 0 else None,
            RateLimiter(login_rate, login_burst) if login_rate > 0 else None,
            RateLimiter(address_rate, address_burst) if address_rate > 0 else None,
            RateLimiter(search_rate, search_burst) if search_rate > 0 else None,
        )


RATE_LIMITS = web.AppKey("rate_limits", RateLimits)


def _refuse(wait: float, what: str) -> RateLimited:
    return RateLimited(f"too many {what}; retry in {wait:.1f} s", retry_after=round(wait, 3))


def check_token_rate(limits: RateLimits, header: str | None) -> None:
    """Draw one request from the bucket of the bearer token in ``header``; RateLimited if empty.

    A missing or malformed header draws nothing: authentication answers 401 for it.
    """
    limiter = limits.tokens
    if limiter is not None and header:
        try:
            key = hash_token(bearer_token(header))
        except Unauthorized:
            return
        wait = limiter.take(key)
        if wait:
            raise _refuse(wait, "requests with this token")


def check_search_rate(limits: RateLimits, user_id: int) -> None:
    """Draw one search from ``user_id``'s bucket; RateLimited if it is empty."""
    if limits.searches is not None:
        wait = limits.searches.take(user_id)
        if wait:
            raise _refuse(wait, "searches")


@web.middleware
async def rate_limit_middleware(request: web.Request, handler):
    """Per-token limit on every request that carries a bearer token."""
    check_token_rate(request.app[RATE_LIMITS], request.headers.get("Authorization"))
    return await handler(request)


class LoginAttempt:
    """One login's draws on its buckets (see :func:`login_attempt`); ``succeeded()`` gives them back."""

    def __init__(self, draws: list[tuple[RateLimiter, Hashable]]) -> None:
        self._draws = draws

    def succeeded(self) -> None:
        for limiter, key in self._draws:
            limiter.give_back(key)


def login_attempt(request: web.Request, user_name: str) -> LoginAttempt:
    """Count a password check for ``user_name`` from the request's address; RateLimited if too
    many failed, for that name from that address or for any names from that address."""
    limits = request.app[RATE_LIMITS]
    address = request.remote or ""
    draws: list[tuple[RateLimiter, Hashable]] = []
    for limiter, key, what in (
        (limits.logins, (address, user_name.casefold()), f"failed logins as {user_name!r}"),
        (limits.login_addresses, address, "failed logins from this address"),
    ):
        if limiter is None:
            continue
        wait = limiter.take(key)
        if wait:
            LoginAttempt(draws).succeeded()  # what was drawn before does not count
            raise _refuse(wait, what)
        draws.append((limiter, key))
    return LoginAttempt(draws)
