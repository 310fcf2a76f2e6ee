"""Passwords: argon2id with its parameters in the hash, old scrypt hashes re-hashed at login,
a minimum length for new passwords."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from metaserver.core import passwords
from protocol.errors import PasswordTooShort


def _old_scrypt_hash(password: str) -> str:
    """A hash as the versions before argon2id made them."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32, maxmem=64 << 20)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


async def test_new_hashes_are_argon2id_with_their_parameters():
    stored = await passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await passwords.verify_password("correct horse", stored)
    assert not await passwords.verify_password("wrong horse", stored)
    assert not passwords.needs_rehash(stored)
    assert passwords.needs_rehash(_old_scrypt_hash("x" * 8))
    weaker = stored.replace("m=19456,t=2", "m=8192,t=1")
    assert passwords.needs_rehash(weaker)
    assert not await passwords.verify_password("correct horse", "garbage$")


def test_new_passwords_have_a_minimum_length():
    with pytest.raises(PasswordTooShort, match="at least 8 characters"):
        passwords.check_new_password("x")
    assert passwords.check_new_password("12345678") == "12345678"


async def test_a_scrypt_hash_logs_in_and_is_replaced_by_argon2id(meta, pool):
    from metaserver.core.users import create_user

    async with pool.acquire() as conn:
        user_id = await create_user(conn, "olduser", "old-password")
        await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, _old_scrypt_hash("old-password"))
    status, code = await meta.error("POST", "/v1/auth/login", {"user": "olduser", "password": "wrong-one"})
    assert (status, code) == (401, "unauthorized")
    assert (await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)).startswith("scrypt$")
    await meta.ok("POST", "/v1/auth/login", {"user": "olduser", "password": "old-password", "device": "d"})
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    await meta.ok("POST", "/v1/auth/login", {"user": "olduser", "password": "old-password", "device": "d2"})
    assert await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id) == stored


async def test_a_user_cannot_be_created_with_a_short_password(pool):
    from metaserver.core.users import create_user

    async with pool.acquire() as conn:
        with pytest.raises(PasswordTooShort):
            await create_user(conn, "shorty", "x")
    assert await pool.fetchval("SELECT count(*) FROM users") == 0
