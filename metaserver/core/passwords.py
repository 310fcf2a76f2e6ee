"""Passwords: argon2id hashes, checked in one thread of their own, through a bounded queue.

New hashes are argon2id (argon2-cffi) with the parameters in the hash itself, a PHC string
(``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``): 19 MiB, two passes, one lane, the first of
OWASP's recommended settings, about 25 ms on one core. A hash made with other parameters
(older ones, or the ``scrypt$salt$digest`` hashes of earlier versions) still verifies, and is
replaced at the next successful login (:func:`needs_rehash`).

Every hash runs in one thread, one at a time. Each takes its memory (19 MiB; scrypt's took 16)
from the C allocator, which keeps what a thread freed in that thread's arena: hashes spread over
the event loop's default worker threads left that much behind in each of them (the server grew
by 16 MiB per login in the benchmark's ``large`` scenario). One thread keeps at most one such
buffer, and the event loop never hashes.

The thread is a queue, so the queue is bounded (:class:`HashQueue`): at most ``size`` hashes
waiting or running in this process, and at most a fair share of them for one client address;
a login beyond that is answered 503 with Retry-After at once instead of waiting behind a flood.
A login for an unknown user name verifies the password against a hash made at start-up with
the same parameters (:meth:`HashQueue.dummy`), so it costs what a known name costs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.low_level import Type

from protocol.errors import PasswordTooShort, Unavailable

#: the shortest new password (older passwords keep working until they are changed)
MIN_PASSWORD = 8
#: the longest password taken (argon2 takes any length; this bounds the work of one request)
MAX_PASSWORD = 1024
#: hashes waiting or running at once in one process (about 25 ms each), and one address's share
DEFAULT_QUEUE = 16
#: how long a client refused by a full queue is told to wait
BUSY_RETRY_AFTER = 1.0

_ARGON2 = argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

#: the one thread that hashes passwords (see the module docstring)
_hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tessera-passwords")


def check_new_password(password: str) -> str:
    """``password`` if it may be set as a new password; PasswordTooShort (or BadRequest) if not."""
    if len(password) < MIN_PASSWORD:
        raise PasswordTooShort(f"passwords must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise PasswordTooShort(f"passwords must be at most {MAX_PASSWORD} characters long")
    return password


def _hash(password: str) -> str:
    return _ARGON2.hash(password)


def _verify(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _ARGON2.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def _verify_scrypt(password: str, stored: str) -> bool:
    """A hash of the versions before argon2id: ``scrypt$<salt b64>$<digest b64>``."""
    try:
        _, salt_b64, digest_b64 = stored.split("$")
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    got = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **_SCRYPT)
    return hmac.compare_digest(got, digest)


def needs_rehash(stored: str) -> bool:
    """Whether a hash that just verified should be replaced (older scheme or parameters)."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _ARGON2.check_needs_rehash(stored)
    except argon2.exceptions.InvalidHashError:
        return True


async def hash_password(password: str) -> str:
    """A new argon2id hash of ``password``, made in the hashing thread (not bounded: for the
    operator's commands and for requests already admitted by a :class:`HashQueue`)."""
    return await asyncio.get_running_loop().run_in_executor(_hasher, _hash, password)


async def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (any scheme this server made), in the hashing thread."""
    return await asyncio.get_running_loop().run_in_executor(_hasher, _verify, password, stored)


class HashQueue:
    """Admission to the hashing thread for requests: at most ``size`` at once in this process,
    and at most ``per_client`` of them for one client (see the module docstring)."""

    def __init__(self, size: int = DEFAULT_QUEUE, per_client: int | None = None) -> None:
        if size < 1:
            raise ValueError("the password hashing queue needs at least one place")
        self.size = size
        self.per_client = per_client if per_client is not None else max(1, size // 4)
        self._busy = 0
        self._by_client: Counter[str] = Counter()
        self._dummy: str | None = None

    @property
    def busy(self) -> int:
        """Hashes admitted and not finished."""
        return self._busy

    async def dummy(self) -> str:
        """A hash of nothing anyone knows, with the current parameters (made once)."""
        if self._dummy is None:
            self._dummy = await hash_password(base64.b64encode(hashlib.sha256(b"tessera").digest()).decode())
        return self._dummy

    @contextlib.asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """Hold a place for one request's hashing; Unavailable (503, Retry-After) if there is none.

        A request cancelled while it waits (its client went away) gives its place back, and its
        hash, cancelled while still queued in the thread, is never computed.
        """
        if self._busy >= self.size or self._by_client[client] >= self.per_client:
            raise Unavailable(
                "the server is busy checking passwords; try again in a moment", retry_after=BUSY_RETRY_AFTER
            )
        self._busy += 1
        self._by_client[client] += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._by_client[client] -= 1
            if not self._by_client[client]:
                del self._by_client[client]
