"""protocol/chunker.py: the fixed-size chunker and its fault-injecting twin."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import hashing
from protocol.chunker import FailingChunker, iter_blocks
from protocol.hashing import BLOCK_SIZE

from . import strategies as s


class ShortReader(io.BytesIO):
    """A stream that returns at most ``k`` bytes per read, as pipes and sockets may."""

    def __init__(self, data: bytes, k: int) -> None:
        super().__init__(data)
        self.k = k
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if size is None or size < 0:
            size = self.k
        return super().read(min(size, self.k))


def check_split(data: bytes, blocks: list[bytes], block_size: int) -> None:
    assert b"".join(blocks) == data
    assert all(len(b) == block_size for b in blocks[:-1])
    if blocks:
        assert 1 <= len(blocks[-1]) <= block_size
    assert len(blocks) == -(-len(data) // block_size)


sizes = st.integers(min_value=1, max_value=300)


@pytest.mark.parametrize("block_size", [1, 7, BLOCK_SIZE])
def test_empty_input_yields_nothing(block_size):
    assert list(iter_blocks(io.BytesIO(b""), block_size)) == []
    assert list(iter_blocks(ShortReader(b"", 1), block_size)) == []


@s.FAST
@given(st.binary(max_size=3000), sizes)
def test_blocks_concatenate_to_the_input(data, block_size):
    check_split(data, list(iter_blocks(io.BytesIO(data), block_size)), block_size)


@s.FAST
@given(st.binary(min_size=1, max_size=50), sizes, st.integers(min_value=1, max_value=10))
def test_exact_multiples_have_no_short_last_block(unit, block_size, n):
    data = (unit * block_size)[:block_size] * n
    blocks = list(iter_blocks(io.BytesIO(data), block_size))
    assert [len(b) for b in blocks] == [block_size] * n


@s.FAST
@given(st.binary(max_size=3000), sizes, st.integers(min_value=1, max_value=400))
def test_short_reads_still_give_full_blocks(data, block_size, k):
    f = ShortReader(data, k)
    check_split(data, list(iter_blocks(f, block_size)), block_size)


def test_one_byte_reads():
    data = bytes(range(256)) * 4
    f = ShortReader(data, 1)
    blocks = list(iter_blocks(f, 100))
    check_split(data, blocks, 100)
    assert f.reads >= len(data)


def test_default_block_size_matches_the_expected_split():
    data = b"\x00" * BLOCK_SIZE + b"\x01"
    blocks = list(iter_blocks(io.BytesIO(data)))
    assert [len(b) for b in blocks] == hashing.expected_block_sizes(len(data)) == [BLOCK_SIZE, 1]


def test_iter_blocks_is_lazy():
    f = io.BytesIO(b"x" * 1000)
    it = iter_blocks(f, 100)
    assert f.tell() == 0
    assert next(it) == b"x" * 100
    assert f.tell() == 100  # one block read, not the whole stream


def test_reads_a_real_file(tmp_path):
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 40 + b"end"
    path.write_bytes(data)
    with path.open("rb") as f:
        check_split(data, list(iter_blocks(f, 1000)), 1000)


# --- FailingChunker ------------------------------------------------------------------------


@s.FAST
@given(
    st.binary(max_size=1000), st.integers(min_value=1, max_value=100), st.integers(min_value=0, max_value=12)
)
def test_failing_chunker_raises_after_n_blocks(data, block_size, fail_after):
    everything = list(iter_blocks(io.BytesIO(data), block_size))
    got: list[bytes] = []
    chunker = FailingChunker(fail_after, block_size)
    if len(everything) > fail_after:
        with pytest.raises(OSError, match=f"block {fail_after}"):
            for block in chunker(ShortReader(data, 37)):
                got.append(block)
        assert got == everything[:fail_after]
    else:
        # a file with no more than fail_after blocks is read to the end without a fault
        assert list(chunker(io.BytesIO(data))) == everything


def test_failing_chunker_zero_fails_at_the_first_block():
    with pytest.raises(OSError):
        next(FailingChunker(0, 4)(io.BytesIO(b"abcdefgh")))


def test_failing_chunker_defaults_to_the_block_size():
    assert FailingChunker(1).block_size == BLOCK_SIZE
    data = b"a" * BLOCK_SIZE + b"b"
    it = FailingChunker(1)(io.BytesIO(data))
    assert next(it) == b"a" * BLOCK_SIZE
    with pytest.raises(OSError):
        next(it)
