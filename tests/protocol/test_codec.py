"""protocol/codec.py: msgpack and JSON bodies, their errors and content negotiation."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import codec
from protocol.codec import JSON, MSGPACK, CodecError
from protocol.errors import BadRequest, UnsupportedMediaType

from . import strategies as s


def same(a: Any, b: Any) -> bool:
    """Equal with identical types all the way down (so 1 != 1.0 != True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# --- round trips ---------------------------------------------------------------------------


@s.FAST
@given(s.json_values)
def test_msgpack_round_trip(value):
    assert same(codec.unpack(codec.pack(value)), value)
    assert same(codec.decode(codec.encode(value, MSGPACK), MSGPACK), value)


@s.FAST
@given(s.json_values)
def test_json_round_trip(value):
    body = codec.encode(value, JSON)
    assert same(codec.decode(body, JSON), value)
    assert same(json.loads(body), value)  # plain JSON any tool can read


@s.FAST
@given(s.json_values)
def test_both_encodings_carry_the_same_data(value):
    assert same(
        codec.decode(codec.encode(value, MSGPACK), MSGPACK), codec.decode(codec.encode(value, JSON), JSON)
    )


def test_json_is_compact_utf8():
    assert codec.encode({"a": [1, "é"]}, JSON) == '{"a":[1,"é"]}'.encode()


def test_msgpack_keeps_bytes_and_strings_apart():
    # grants carry raw digests as msgpack bin; text stays str
    assert codec.pack(b"\x00\xff") == b"\xc4\x02\x00\xff"
    assert codec.unpack(codec.pack([b"\x00\xff", "\xff"])) == [b"\x00\xff", "\xff"]
    assert codec.unpack(codec.pack((1, 2))) == [1, 2]


def test_msgpack_is_interoperable():
    value = {"path": "/a", "size": 3, "blocks": [{"md5": "00", "n": -1.5}], "ok": True, "x": None}
    assert msgpack.unpackb(codec.pack(value), raw=False) == value
    assert codec.unpack(msgpack.packb(value, use_bin_type=True)) == value


# --- malformed bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing
        b"\xc1",  # a byte msgpack never uses
        b"\x92\x01",  # array of 2, one element
        b"\xa5abc",  # truncated str
        b"\x01\x02",  # trailing data
        b"\xa1\xff",  # str that is not UTF-8
        b"\x81\x01\x02",  # map with an int key
        b"\x81\x90\x02",  # map with an array key
        b"\x91" * 100_000,  # nesting too deep
        b"\xdd\xff\xff\xff\xff",  # array claiming 4 G elements
    ],
)
def test_malformed_msgpack_raises_codec_error(data):
    for decode in (codec.unpack, lambda d: codec.decode(d, MSGPACK)):
        with pytest.raises(CodecError) as info:
            decode(data)
        assert isinstance(info.value, BadRequest)
        assert info.value.code == "bad_request"
        assert info.value.status == 400


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"[1,]",
        b"{'a': 1}",
        b'{"a":1} x',
        b"\xff\xfe",  # not UTF-8
        b'"\xed\xa0\x80"',  # a UTF-8-encoded surrogate
        b"\xef\xbb\xbf{}",  # BOM
        b"1" * 5000,  # more digits than int() converts
        b"[" * 100_000,  # nesting too deep (and unterminated)
        b"[" * 5_000 + b"]" * 5_000,  # well-formed but too deep to decode
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    ],
)
def test_malformed_json_raises_codec_error(data):
    with pytest.raises(CodecError) as info:
        codec.decode(data, JSON)
    assert isinstance(info.value, BadRequest)
    assert info.value.code == "bad_request"


@s.FAST
@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_codec_error(data):
    for ctype in (MSGPACK, JSON):
        try:
            codec.decode(data, ctype)
        except CodecError:
            pass


@s.FAST
@given(s.json_values, st.integers(min_value=1, max_value=64))
def test_truncated_msgpack_raises_codec_error(value, cut):
    body = codec.pack(value)
    if cut < len(body):
        with pytest.raises(CodecError):
            codec.unpack(body[:-cut])


@pytest.mark.parametrize(
    "ctype",
    [
        "text/plain",
        "",
        "application/x-msgpack",
        "application/octet-stream",
        "application/json; charset=utf-8",
    ],
)
def test_unsupported_content_type(ctype):
    with pytest.raises(UnsupportedMediaType) as info:
        codec.decode(b"{}", ctype)
    assert info.value.code == "unsupported_media_type"
    assert info.value.status == 415


# --- content types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "bare"),
    [
        (None, ""),
        ("", ""),
        ("application/json", JSON),
        ("Application/JSON; charset=utf-8", JSON),
        ("  application/msgpack ;q=1", MSGPACK),
        ("text/plain;charset=utf-8", "text/plain"),
    ],
)
def test_media_type(header, bare):
    assert codec.media_type(header) == bare


def test_decode_with_a_parsed_content_type_header():
    assert codec.decode(b'{"a":1}', codec.media_type("application/json; charset=utf-8")) == {"a": 1}


@pytest.mark.parametrize(
    ("accept", "request_type", "answer"),
    [
        # a JSON request body is answered in JSON, whatever Accept says
        (None, JSON, JSON),
        (MSGPACK, JSON, JSON),
        (MSGPACK, "application/json; charset=utf-8", JSON),
        # otherwise msgpack wins whenever it is acceptable
        (MSGPACK, None, MSGPACK),
        (MSGPACK, MSGPACK, MSGPACK),
        (f"{JSON}, {MSGPACK}", None, MSGPACK),
        ("Application/MsgPack", None, MSGPACK),
        # JSON when asked for and msgpack is not
        (JSON, None, JSON),
        (JSON, MSGPACK, JSON),
        ("APPLICATION/JSON", None, JSON),
        # curl sends */*; no Accept at all counts the same; a msgpack body is answered in kind
        ("*/*", None, JSON),
        ("*/*", MSGPACK, MSGPACK),
        (None, None, JSON),
        ("", None, JSON),
        (None, MSGPACK, MSGPACK),
        # an Accept naming neither
        ("text/html", None, MSGPACK),
        ("text/html", MSGPACK, MSGPACK),
    ],
)
def test_pick_response_type(accept, request_type, answer):
    assert codec.pick_response_type(accept, request_type) == answer


@s.FAST
@given(st.none() | st.text(max_size=40), st.none() | st.text(max_size=40))
def test_pick_response_type_always_picks_a_supported_type(accept, request_type):
    assert codec.pick_response_type(accept, request_type) in codec.CONTENT_TYPES
