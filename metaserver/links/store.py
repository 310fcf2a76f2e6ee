"""Share links in the database: made, listed, revoked, and found by their token.

A link's token is 256 random bits (URL-safe base64, 43 characters), shown once when the link
is made; the database keeps only its SHA-256, like a device token's. Whether a link still
works (not revoked, not expired) is decided on every request that uses it, by the caller of
:func:`by_token` through :meth:`Link.check_open`, and by the block server for each block
(``blockserver/access.py``, which reads the ``links`` row itself: it imports only
:mod:`metaserver.core`).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from protocol import paths
from protocol.errors import LinkGone, NotFound
from protocol.messages import links as messages

from ..core.auth import hash_token

TOKEN_BYTES = 32
#: what a token looks like (``secrets.token_urlsafe(32)``); anything else is not looked up
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
#: the longest a link may live (and the largest ``expires_in`` taken)
MAX_EXPIRY = 10 * 366 * 24 * 3600
#: the most links one namespace keeps (revoked and expired ones count until removed)
MAX_LINKS = 10_000
_COLUMNS = "id, ns_id, path, created_by, created_at, expires_at, password_hash, view_only, revoked_at"


@dataclass(frozen=True, slots=True)
class Link:
    id: int
    ns_id: int
    path: str
    created_by: int | None
    created: float
    expires: float | None
    view_only: bool
    revoked: float | None
    password_hash: str | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Link:
        return cls(
            row["id"], row["ns_id"], row["path"], row["created_by"], row["created_at"].timestamp(),
            _ts(row["expires_at"]), row["view_only"], _ts(row["revoked_at"]), row["password_hash"],
        )  # fmt: skip

    def state(self, now: float | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= (time.time() if now is None else now):
            return "expired"
        return "active"

    def check_open(self) -> Link:
        """This link, if it still works; LinkGone (410) if it was revoked or has expired."""
        state = self.state()
        if state == "revoked":
            raise LinkGone("This link was turned off by its owner.", state=state)
        if state == "expired":
            raise LinkGone("This link has expired.", state=state)
        return self

    def message(self, kind: str | None = None) -> messages.Link:
        """The link as its owner sees it (``kind``: what it opens, when the link is made)."""
        return messages.Link(
            self.id, self.path, self.created, self.expires, self.password_hash is not None, self.view_only,
            self.revoked, self.state(), kind,  # type: ignore[arg-type]
        )  # fmt: skip


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


async def create(
    conn: asyncpg.Connection,
    ns_id: int,
    path: str,
    user_id: int,
    *,
    expires_in: int | None,
    password_hash: str | None,
    view_only: bool,
) -> tuple[Link, str]:
    """A new link to ``path`` of namespace ``ns_id`` and its token (shown once, never kept)."""
    token = new_token()
    row = await conn.fetchrow(
        f"""INSERT INTO links (token_hash, ns_id, path, path_key, created_by, expires_at, password_hash, view_only)
            VALUES ($1, $2, $3, $4, $5, now() + $6::bigint * interval '1 second', $7, $8) RETURNING {_COLUMNS}""",
        hash_token(token), ns_id, path, paths.path_key(path), user_id, expires_in, password_hash, view_only,
    )  # fmt: skip
    return Link.from_row(row), token


async def count(conn: asyncpg.Connection, ns_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM links WHERE ns_id = $1", ns_id)


async def list_links(conn: asyncpg.Connection, ns_ids: list[int]) -> list[Link]:
    """The links into the namespaces ``ns_ids``, oldest first."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM links WHERE ns_id = ANY($1::bigint[]) ORDER BY id", ns_ids)
    return [Link.from_row(r) for r in rows]


async def revoke(conn: asyncpg.Connection, ns_ids: list[int], link_id: int) -> Link:
    """Turn link ``link_id`` off at once (NotFound unless it is a link into one of ``ns_ids``)."""
    row = await conn.fetchrow(
        f"""UPDATE links SET revoked_at = coalesce(revoked_at, now())
             WHERE id = $1 AND ns_id = ANY($2::bigint[]) RETURNING {_COLUMNS}""",
        link_id,
        ns_ids,
    )
    if row is None:
        raise NotFound(f"there is no link {link_id} of yours")
    return Link.from_row(row)


async def by_token(conn: asyncpg.Connection, token: str) -> Link:
    """The link of ``token``, working or not (NotFound if there is none)."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise NotFound("there is no such link")
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM links WHERE token_hash = $1", hash_token(token))
    if row is None:
        raise NotFound("there is no such link")
    return Link.from_row(row)



async def revoke_made_by(conn: asyncpg.Connection, ns_id: int, user_id: int) -> int:
    """Turn off the links ``user_id`` made into namespace ``ns_id`` (a shared folder they were
    removed from or left: what they shared of it stops with their access); how many."""
    done = await conn.execute(
        "UPDATE links SET revoked_at = now() WHERE ns_id = $1 AND created_by = $2 AND revoked_at IS NULL", ns_id, user_id
    )
    return int(done.split()[-1])
