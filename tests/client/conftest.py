"""Fixtures for the client tests: a logged-in client against the real servers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client import RetryPolicy, TesseraClient

#: retries that give up within a second, so failure tests stay fast
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=5.0)

USER = "alice"
PASSWORD = "secret-pw"


def write_random(path: Path, size: int, seed: int = 0) -> Path:
    """Write ``size`` pseudo-random bytes to ``path`` in 1 MiB pieces."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    return path


@pytest.fixture
async def token(servers) -> str:
    await servers.add_user(USER, PASSWORD)
    return await servers.login(USER, PASSWORD)


@pytest.fixture
async def client(servers, token) -> AsyncIterator[TesseraClient]:
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as c:
        yield c
