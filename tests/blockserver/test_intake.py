"""receive_verified: bounded, hashed, verified intake of one block body."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator

import pytest

from blockserver.intake import PIECE_SIZE, check_hashes, receive_verified
from protocol.errors import BlockTooLarge, HashMismatch, SizeMismatch
from protocol.hashing import hash_block

from .conftest import body_of, random_bytes


async def test_sink_gets_the_body_in_order_in_few_bounded_hops():
    data = random_bytes(3 * PIECE_SIZE + 123)
    chunks = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]
    events: list[tuple[str, int]] = []  # ("body" | "sink", bytes), in the order they happened

    async def body() -> AsyncIterator[bytes]:
        for c in chunks:
            events.append(("body", len(c)))
            yield c

    got: list[bytes] = []

    def sink(piece: bytes) -> None:
        events.append(("sink", len(piece)))
        got.append(piece)

    await receive_verified(body(), hash_block(data), sink)
    assert b"".join(got) == data
    assert got == chunks  # the chunks as they came, not copied into bigger pieces
    # one thread hop per piece: runs of sink calls, each at least PIECE_SIZE (but the last), none much more
    hops = [
        sum(n for _, n in run)
        for kind, run in itertools.groupby(events, key=lambda e: e[0])
        if kind == "sink"
    ]
    assert all(PIECE_SIZE <= h < PIECE_SIZE + 10_000 for h in hops[:-1])
    assert len(hops) == 3 and sum(hops) == len(data)


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
