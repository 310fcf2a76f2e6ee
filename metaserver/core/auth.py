"""Passwords, device tokens and the caller of a request.

Tokens are 256-bit random strings handed to the device once; the database keeps
only their SHA-256. Passwords are hashed with scrypt (stdlib) in a thread of
their own, one at a time: each hash takes 16 MiB (``n * r * 128`` bytes), and
the C allocator keeps what a thread freed in that thread's arena, so hashes
spread over the event loop's default worker threads left up to 16 MiB behind
in each of them (the server grew by 16 MiB per login in the benchmark's
``large`` scenario). One thread keeps at most one such buffer, and logins
queue for it instead of taking 16 MiB each at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg

from protocol.errors import Unauthorized

TOKEN_PREFIX = "tsr_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    user_name: str
    token_id: int
    device_name: str


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


#: the one thread that hashes passwords (see the module docstring)
_hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tessera-scrypt")


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **_SCRYPT)


async def _scrypt_in_turn(password: str, salt: bytes) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(_hasher, _scrypt, password, salt)


async def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = await _scrypt_in_turn(password, salt)
    b64 = base64.b64encode
    return f"scrypt${b64(salt).decode()}${b64(digest).decode()}"


async def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    got = await _scrypt_in_turn(password, salt)
    return hmac.compare_digest(got, digest)


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("missing Authorization header (run `tessera login`)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    return token.strip()


async def lookup_token(conn: asyncpg.Connection, token: str) -> Caller:
    """The caller a bearer token belongs to; Unauthorized if unknown or revoked."""
    row = await conn.fetchrow(
        """SELECT t.id, t.user_id, t.device_name, u.name
             FROM tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL""",
        hash_token(token),
    )
    if row is None:
        raise Unauthorized("the token is unknown or revoked (run `tessera login`)")
    return Caller(row["user_id"], row["name"], row["id"], row["device_name"])
