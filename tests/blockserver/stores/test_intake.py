"""receive_verified: bounded, hashed, verified intake of one block body."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import AsyncIterator

import pytest

from blockserver.stores.intake import PIECE_SIZE, check_hashes, receive_verified
from protocol.errors import BlockTooLarge, HashMismatch, SizeMismatch
from protocol.hashing import hash_block

from ..conftest import body_of, random_bytes


async def test_sink_gets_the_body_in_order_in_few_bounded_hops():
    data = random_bytes(3 * PIECE_SIZE + 123)
    chunks = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]
    yielded = 0  # body bytes handed out so far
    calls: list[tuple[int, int]] = []  # (thread, body bytes yielded when the sink call came)

    async def body() -> AsyncIterator[bytes]:
        nonlocal yielded
        for c in chunks:
            yielded += len(c)
            yield c

    got: list[bytes] = []

    def sink(piece: bytes) -> None:
        calls.append((threading.get_ident(), yielded))
        got.append(piece)

    await receive_verified(body(), hash_block(data), sink)
    assert b"".join(got) == data
    assert got == chunks  # the chunks as they came, not copied into bigger pieces
    assert threading.get_ident() not in {t for t, _ in calls}  # never on the event loop
    # at most two pieces held: the one being sunk and the one being read
    sunk = 0
    for (_, seen), piece in zip(calls, got, strict=True):
        assert seen - sunk <= 2 * (PIECE_SIZE + 10_000)
        sunk += len(piece)


async def test_the_next_piece_is_read_while_the_sink_works():
    data = random_bytes(2 * PIECE_SIZE + 10)
    second_piece_read = threading.Event()

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 10_000):
            if i >= PIECE_SIZE + 10_000:
                second_piece_read.set()
            yield data[i : i + 10_000]

    overlapped: list[bool] = []

    def sink(piece: bytes) -> None:
        if not overlapped:  # the first call: hold the first piece until the body has moved on
            overlapped.append(second_piece_read.wait(30))

    await receive_verified(body(), hash_block(data), sink)
    assert overlapped == [True]


async def test_a_failing_sink_fails_the_intake_after_its_thread_is_done():
    data = random_bytes(3 * PIECE_SIZE)
    calls = 0

    def sink(piece: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await receive_verified(body_of(data), hash_block(data), sink)


async def test_too_long_stops_before_the_sink_sees_the_excess():
    data = random_bytes(1000)
    got: list[bytes] = []
    with pytest.raises(BlockTooLarge) as e:
        await receive_verified(body_of(data, b"!"), hash_block(data), got.append)
    assert e.value.details == {"size": 1000}
    assert b"".join(got) == b""  # the piece was still pending: nothing over the size was sunk


async def test_too_short():
    data = random_bytes(1000)
    with pytest.raises(SizeMismatch) as e:
        await receive_verified(body_of(data[:10]), hash_block(data), lambda _: None)
    assert e.value.details == {"size": 1000, "received": 10}


async def test_empty_body_for_a_block():
    data = random_bytes(10)
    with pytest.raises(SizeMismatch):
        await receive_verified(body_of(), hash_block(data), lambda _: None)


def test_check_hashes_names_every_wrong_digest():
    h = hash_block(b"abc")
    other = hash_block(b"xyz")
    check_hashes(h, h)
    with pytest.raises(HashMismatch, match="MD5 and SHA-256") as e:
        check_hashes(dataclasses.replace(other, size=h.size), h)
    assert e.value.details == {"mismatch": ["md5", "sha256"]}
    with pytest.raises(HashMismatch, match="SHA-256") as e:
        check_hashes(dataclasses.replace(h, sha256=other.sha256), h)
    assert e.value.details == {"mismatch": ["sha256"]}
