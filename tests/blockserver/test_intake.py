"""receive_verified: bounded, hashed, verified intake of one block body."""

from __future__ import annotations

import dataclasses

import pytest

from blockserver.intake import PIECE_SIZE, check_hashes, receive_verified
from protocol.errors import BlockTooLarge, HashMismatch, SizeMismatch
from protocol.hashing import hash_block

from .conftest import body_of, random_bytes


async def test_sink_gets_the_body_in_order_in_bounded_pieces():
    data = random_bytes(3 * PIECE_SIZE + 123)
    got: list[bytes] = []
    await receive_verified(
        body_of(*[data[i : i + 10_000] for i in range(0, len(data), 10_000)]), hash_block(data), got.append
    )
    assert b"".join(got) == data
    # few thread hops: every piece but the last is at least PIECE_SIZE, none much more
    assert all(PIECE_SIZE <= len(p) < PIECE_SIZE + 10_000 for p in got[:-1])
    assert len(got) == 3


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
