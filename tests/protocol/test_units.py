"""protocol/units.py: human byte sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import BadRequest
from protocol.units import format_size, parse_size

from . import strategies as s

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("0", 0),
        ("123", 123),
        ("10B", 10),
        ("4K", 4096),
        ("4k", 4096),
        ("1.5G", 3 << 29),
        ("10GiB", 10 << 30),
        ("10gib", 10 << 30),
        ("10GB", 10 << 30),
        ("10 G", 10 << 30),
        (" 7M ", 7 << 20),
        ("1T", 1 << 40),
        ("1P", 1 << 50),
    ],
)
def test_parse_size_examples(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["", " ", "x", "-1", "1e3", "1KB2", ".5K", "1.K", "1 KK", "K", "1Q", "1,5G"])
def test_parse_size_rejects(text):
    with pytest.raises(BadRequest):
        parse_size(text)


@s.FAST
@given(
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from(sorted(UNITS)),
    st.sampled_from(["", "B", "iB"]),
)
def test_parse_size_whole_numbers(n, unit, suffix):
    if unit == "" and suffix == "iB":
        suffix = ""
    assert parse_size(f"{n}{unit}{suffix}") == n * UNITS[unit]


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10 << 30, "10.0 GiB"),
        (1 << 50, "1024.0 TiB"),
    ],
)
def test_format_size_examples(n, text):
    assert format_size(n) == text


@s.FAST
@given(st.integers(min_value=0, max_value=2**52))
def test_format_then_parse_is_close(n):
    back = parse_size(format_size(n))
    assert abs(back - n) <= max(1, n * 0.05)
