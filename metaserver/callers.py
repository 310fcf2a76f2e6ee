"""Who makes a request: the caller of a bearer token and its home namespace (any HTTP server)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from . import db, users
from .auth import Caller, bearer_token, lookup_token


@dataclass(frozen=True, slots=True)
class Context:
    caller: Caller
    ns_id: int  # the caller's home namespace


async def authenticate_header(pool: asyncpg.Pool, header: str | None) -> Context:
    """The caller of an ``Authorization: Bearer`` header value; Unauthorized if none or unknown."""
    token = bearer_token(header)
    async with db.connection(pool) as conn:
        caller = await lookup_token(conn, token)
        ns_id = await users.home_namespace(conn, caller.user_id)
    return Context(caller, ns_id)
