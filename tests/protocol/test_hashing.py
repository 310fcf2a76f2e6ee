"""protocol/hashing.py: block hashes, the file content hash and the block split.

Expected values are computed here with hashlib directly, not through the module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import hashing
from protocol.chunker import iter_blocks
from protocol.errors import BadRequest
from protocol.hashing import BLOCK_SIZE, BlockHash, BlockHasher

from . import strategies as s

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def dropbox_content_hash(blocks: list[bytes]) -> str:
    """SHA-256 over the concatenated raw SHA-256 digests of the blocks."""
    return hashlib.sha256(b"".join(sha(b) for b in blocks)).hexdigest()


# --- hash_block and BlockHasher ------------------------------------------------------------


def test_block_size_is_4_mib():
    assert BLOCK_SIZE == 4 * 1024 * 1024


def test_hash_of_empty_input():
    assert hashlib.md5(b"").hexdigest() == EMPTY_MD5
    assert hashlib.sha256(b"").hexdigest() == EMPTY_SHA256
    assert hashing.hash_block(b"") == BlockHash(0, EMPTY_MD5, EMPTY_SHA256)
    assert BlockHasher().result() == BlockHash(0, EMPTY_MD5, EMPTY_SHA256)


def test_hash_of_abc():
    assert hashing.hash_block(b"abc") == BlockHash(
        3,
        "900150983cd24fb0d6963f7d28e17f72",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    )


@s.FAST
@given(st.binary(max_size=2000))
def test_hash_block_matches_hashlib(data):
    want = BlockHash(len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    assert hashing.hash_block(data) == want
    assert hashing.hash_block(memoryview(data)) == want
    assert hashing.hash_block(bytearray(data)) == want


@s.FAST
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_block_hasher_equals_hash_block_for_any_split(data, cuts):
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    h = BlockHasher()
    for a, b in zip(bounds, bounds[1:], strict=False):
        h.update(memoryview(data)[a:b])  # empty pieces included
    assert h.size == len(data)
    assert h.result() == hashing.hash_block(data)


def test_block_hash_is_frozen():
    b = hashing.hash_block(b"x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.size = 2  # type: ignore[misc]


# --- content_hash --------------------------------------------------------------------------


def test_content_hash_of_empty_file_is_sha256_of_empty_input():
    assert hashing.content_hash([]) == hashlib.sha256(b"").hexdigest() == EMPTY_SHA256


def test_content_hash_of_one_block_is_sha256_of_its_digest():
    want = hashlib.sha256(hashlib.sha256(b"abc").digest()).hexdigest()
    assert hashing.content_hash([hashlib.sha256(b"abc").hexdigest()]) == want
    # not the plain SHA-256 of the content
    assert want != hashlib.sha256(b"abc").hexdigest()


@s.FAST
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_content_hash_is_over_concatenated_block_digests(blocks):
    hexes = [hashing.hash_block(b).sha256 for b in blocks]
    assert hashing.content_hash(hexes) == dropbox_content_hash(blocks)
    assert hashing.content_hash(iter(hexes)) == dropbox_content_hash(blocks)  # any iterable
    assert hashing.content_hash(h.upper() for h in hexes) == dropbox_content_hash(blocks)


def test_content_hash_depends_on_block_order_and_boundaries():
    def h(*blocks: bytes) -> str:
        return hashing.content_hash(hashlib.sha256(b).hexdigest() for b in blocks)

    assert h(b"a", b"b") != h(b"b", b"a")
    assert h(b"ab", b"c") != h(b"a", b"bc")
    assert h(b"abc") != h(b"ab", b"c")


def test_content_hash_of_a_multi_block_file():
    data = bytes(range(256)) * (BLOCK_SIZE // 256) * 2 + b"tail!"
    blocks = list(iter_blocks(io.BytesIO(data)))
    assert [len(b) for b in blocks] == hashing.expected_block_sizes(len(data)) == [BLOCK_SIZE, BLOCK_SIZE, 5]
    want = hashlib.sha256(
        sha(data[:BLOCK_SIZE]) + sha(data[BLOCK_SIZE : 2 * BLOCK_SIZE]) + sha(data[2 * BLOCK_SIZE :])
    ).hexdigest()
    assert hashing.content_hash(hashing.hash_block(b).sha256 for b in blocks) == want


# --- BlockHash wire form -------------------------------------------------------------------


@s.FAST
@given(st.integers(min_value=1, max_value=BLOCK_SIZE), s.hex_digests_md5, s.hex_digests_sha256)
def test_block_hash_wire_round_trip(size, md5, sha256):
    b = BlockHash(size, md5, sha256)
    assert b.to_wire() == {"size": size, "md5": md5, "sha256": sha256}
    assert BlockHash.from_wire(b.to_wire()) == b


@s.FAST
@given(s.hex_digests_md5, s.hex_digests_sha256)
def test_from_wire_lowercases_hex(md5, sha256):
    got = BlockHash.from_wire({"size": 1, "md5": md5.upper(), "sha256": sha256.upper()})
    assert got == BlockHash(1, md5, sha256)


VALID = {"size": 10, "md5": "0" * 32, "sha256": "f" * 64}


@pytest.mark.parametrize(
    "size", [0, -1, -BLOCK_SIZE, BLOCK_SIZE + 1, 2**64, True, False, 1.0, "1", None, [1]]
)
def test_from_wire_rejects_bad_sizes(size):
    with pytest.raises(BadRequest):
        BlockHash.from_wire({**VALID, "size": size})


@pytest.mark.parametrize("size", [1, BLOCK_SIZE])
def test_from_wire_size_bounds_are_inclusive(size):
    assert BlockHash.from_wire({**VALID, "size": size}).size == size


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("md5", ""),
        ("md5", "0" * 31),
        ("md5", "0" * 33),
        ("md5", "0" * 64),
        ("md5", "g" * 32),
        ("md5", "0x" + "0" * 30),
        ("md5", " " + "0" * 31),
        ("md5", "0" * 31 + "\n"),
        ("md5", "\uff10" * 32),  # FULLWIDTH DIGIT ZERO
        ("md5", b"0" * 32),
        ("md5", 0),
        ("md5", None),
        ("sha256", "0" * 63),
        ("sha256", "0" * 65),
        ("sha256", "0" * 32),
        ("sha256", "z" + "0" * 63),
        ("sha256", "-" + "0" * 63),
        ("sha256", bytes(32)),
        ("sha256", None),
    ],
)
def test_from_wire_rejects_bad_hex(field, value):
    with pytest.raises(BadRequest):
        BlockHash.from_wire({**VALID, field: value})


@pytest.mark.parametrize("missing", ["size", "md5", "sha256"])
def test_from_wire_rejects_missing_fields(missing):
    obj = dict(VALID)
    del obj[missing]
    with pytest.raises(BadRequest):
        BlockHash.from_wire(obj)


@pytest.mark.parametrize("obj", [None, [], [10, "0" * 32, "f" * 64], "x", 10, b"x"])
def test_from_wire_rejects_non_objects(obj):
    with pytest.raises(BadRequest) as info:
        BlockHash.from_wire(obj)
    assert info.value.code == "bad_request"


@s.FAST
@given(st.text(max_size=40))
def test_check_hex_accepts_exactly_ascii_hex_of_the_right_length(text):
    ok = len(text) == 32 and all(c in string.hexdigits for c in text)
    if ok:
        assert hashing.check_hex(text, 32, "md5") == text.lower()
    else:
        with pytest.raises(BadRequest):
            hashing.check_hex(text, 32, "md5")


def test_no_non_ascii_character_lowercases_into_hex():
    """check_hex lower-cases before comparing; no other code point may slip through that way."""
    hexset = set(string.hexdigits.lower())
    suspects = [chr(c) for c in range(0x110000) if not hexset.isdisjoint(chr(c).lower())]
    accepted = []
    for ch in suspects:
        try:
            hashing.check_hex(ch * 32, 32, "md5")
        except BadRequest:
            continue
        accepted.append(ch)
    assert sorted(accepted) == sorted(string.hexdigits)


# --- the block split -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "sizes"),
    [
        (0, []),
        (1, [1]),
        (BLOCK_SIZE - 1, [BLOCK_SIZE - 1]),
        (BLOCK_SIZE, [BLOCK_SIZE]),
        (BLOCK_SIZE + 1, [BLOCK_SIZE, 1]),
        (3 * BLOCK_SIZE, [BLOCK_SIZE] * 3),
    ],
)
def test_expected_block_sizes_examples(size, sizes):
    assert hashing.expected_block_sizes(size) == sizes
    assert hashing.block_count(size) == len(sizes)


@s.FAST
@given(st.integers(min_value=0, max_value=2**44))
def test_expected_block_sizes_split_the_size(size):
    sizes = hashing.expected_block_sizes(size)
    assert sum(sizes) == size
    assert len(sizes) == hashing.block_count(size) == -(-size // BLOCK_SIZE)
    assert all(x == BLOCK_SIZE for x in sizes[:-1])
    if sizes:
        assert 1 <= sizes[-1] <= BLOCK_SIZE
