"""Device tokens and the caller of a request (passwords are in :mod:`.passwords`).

Tokens are 256-bit random strings handed to the device once; the database keeps
only their SHA-256. A token stops working when it is revoked (logout, ``tessera
devices revoke``, a password change that signs out other devices, the operator),
when its user is disabled, or when it went unused for the server's idle expiry
(``--token-idle-expiry``, 90 days by default). Its last use is written at most once
per :data:`TOUCH_INTERVAL`, so a request costs no write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from protocol.errors import SignedOut, Unauthorized

TOKEN_PREFIX = "tsr_"
#: a token unused for this long (seconds) no longer works (the server's default)
DEFAULT_IDLE_EXPIRY = 90 * 86400.0
#: a token's last use is written at most this often (seconds)
TOUCH_INTERVAL = 3600.0
#: why a token was revoked (tokens.revoked_reason), as the signed-out device is told
REVOKED_BECAUSE = {
    "logout": "it logged out",
    "revoked": "it was signed out from another device",
    "password": "the password was changed and other devices were signed out",
    "operator": "the server's operator signed it out",
}


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    user_name: str
    token_id: int
    device_name: str


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    """The SHA-256 of a token's UTF-8 bytes (a header's bytes that are not UTF-8 arrive as
    surrogates: those are encoded too, and find no token, rather than fail)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("missing Authorization header (run `tessera login`)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    return token.strip()


async def lookup_token(conn: asyncpg.Connection, token: str, idle_expiry: float = DEFAULT_IDLE_EXPIRY) -> Caller:
    """The caller a bearer token belongs to (see :func:`lookup_token_hash`)."""
    return await lookup_token_hash(conn, hash_token(token), idle_expiry)


async def lookup_token_hash(
    conn: asyncpg.Connection, token_hash: bytes, idle_expiry: float = DEFAULT_IDLE_EXPIRY
) -> Caller:
    """The caller of the token whose SHA-256 is ``token_hash``.

    Unauthorized if the token is unknown; SignedOut if it was revoked, its user is disabled,
    or it went unused for ``idle_expiry`` seconds (0: never expires). Notes its use when the
    last one noted is older than :data:`TOUCH_INTERVAL`.
    """
    row = await conn.fetchrow(
        """SELECT t.id, t.user_id, t.device_name, u.name, t.revoked_at IS NOT NULL AS revoked,
                  t.revoked_reason, u.disabled_at IS NOT NULL AS disabled,
                  extract(epoch FROM now() - t.last_used_at)::float8 AS idle
             FROM tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = $1""",
        token_hash,
    )
    if row is None:
        raise Unauthorized("the token is unknown (run `tessera login`)")
    refused = token_refusal(row["revoked"], row["revoked_reason"], row["disabled"], row["idle"], idle_expiry)
    if refused is not None:
        raise refused
    if row["idle"] > TOUCH_INTERVAL:
        await conn.execute(
            "UPDATE tokens SET last_used_at = now() WHERE id = $1 AND last_used_at < now() - make_interval(secs => $2)",
            row["id"],
            TOUCH_INTERVAL,
        )
    return Caller(row["user_id"], row["name"], row["id"], row["device_name"])


def token_refusal(revoked: bool, reason: str | None, disabled: bool, idle: float, idle_expiry: float) -> SignedOut | None:
    """Why a known token no longer works (None: it works)."""
    if revoked:
        because = REVOKED_BECAUSE.get(reason or "", "it was revoked")
        return SignedOut(f"this device is signed out: {because}; run `tessera login`")
    if disabled:
        return SignedOut("this device is signed out: the account is disabled; ask the server's operator")
    if idle_expiry and idle > idle_expiry:
        days = idle_expiry / 86400
        return SignedOut(f"this device is signed out: it was not used for {days:g} days; run `tessera login`")
    return None
