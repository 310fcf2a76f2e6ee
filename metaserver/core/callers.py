"""Who makes a request: the caller of a bearer token and its home namespace (any HTTP server)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from . import db, users
from .auth import DEFAULT_IDLE_EXPIRY, Caller, bearer_token, hash_token, lookup_token
from .requestlog import note_user

#: how long the notify endpoint trusts a token it has checked without asking the database again;
#: a revocation does not wait for it: it empties the cache of the user's tokens and ends their held
#: polls (:mod:`metaserver.core.tokens`); every other route checks the token on each request
TOKEN_CACHE_TTL = 10.0
TOKEN_CACHE_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Context:
    caller: Caller
    ns_id: int  # the caller's home namespace


async def authenticate_header(
    pool: asyncpg.Pool, header: str | None, idle_expiry: float = DEFAULT_IDLE_EXPIRY
) -> Context:
    """The caller of an ``Authorization: Bearer`` header value; Unauthorized if none or unknown,
    SignedOut if the token no longer works."""
    token = bearer_token(header)
    async with db.connection(pool) as conn:
        caller = await lookup_token(conn, token, idle_expiry)
        ns_id = await users.home_namespace(conn, caller.user_id)
    note_user(caller.user_id)  # for the request's log line
    return Context(caller, ns_id)


class TokenCache:
    """:func:`authenticate_header` remembered for ``ttl`` seconds per token (only tokens that worked)."""

    def __init__(
        self,
        ttl: float = TOKEN_CACHE_TTL,
        max_entries: int = TOKEN_CACHE_MAX,
        clock: Callable[[], float] = time.monotonic,
        idle_expiry: float = DEFAULT_IDLE_EXPIRY,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.idle_expiry = idle_expiry
        self._clock = clock
        #: sha256 of the token -> (its context, when it must be checked again)
        self._entries: dict[bytes, tuple[Context, float]] = {}
        #: bumped by every :meth:`forget`: a lookup that a revocation overtook is not trusted
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def forget(self, user_id: int | None) -> None:
        """Check ``user_id``'s tokens (every token, for None) against the database next time."""
        self._generation += 1
        if user_id is None:
            self._entries.clear()
        else:
            self._entries = {k: v for k, v in self._entries.items() if v[0].caller.user_id != user_id}

    async def authenticate(self, pool: asyncpg.Pool, header: str | None) -> Context:
        key = hash_token(bearer_token(header))
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        for _ in range(3):  # a revocation heard during the lookup may have come after the database answered
            generation = self._generation
            ctx = await authenticate_header(pool, header, self.idle_expiry)
            if generation == self._generation:
                break
        else:
            return ctx  # revocations keep coming: checked, but not remembered
        if len(self._entries) >= self.max_entries:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[key] = (ctx, self._clock() + self.ttl)
        return ctx
