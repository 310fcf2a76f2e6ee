"""Body encoding: the only module that imports msgpack.

Tessera speaks msgpack (``application/msgpack``) and, for curl and scripts,
JSON (``application/json``). Every message is made of JSON-compatible values
(hashes travel as hex strings), so the two encodings carry the same data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgpack

from .errors import BadRequest, BodyTooLarge

MSGPACK = "application/msgpack"
JSON = "application/json"
CONTENT_TYPES = (MSGPACK, JSON)


class CodecError(BadRequest):
    """The request body could not be decoded."""


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What one request body may hold, checked while it is decoded (a server's side of
    :func:`decode`): the memory a body costs once decoded stays a small multiple of its size.

    ``max_items`` bounds the values in all its maps and lists together (a map entry counts
    twice: key and value); ``max_str_len`` one string (msgpack: bytes; JSON: characters),
    ``max_container_len`` one map or list. Every string is checked for NUL (which no text
    column can hold) and, in JSON, for lone surrogates (which are not UTF-8).
    """

    max_items: int = 256
    max_str_len: int = 16 * 1024
    max_container_len: int = 1024

    @classmethod
    def for_body(cls, max_bytes: int, *, max_container_len: int | None = None) -> DecodeLimits:
        """Limits in proportion to a body limit: a value per 16 bytes of it (at least 256)."""
        items = max(256, max_bytes // 16)
        return cls(max_items=items, max_container_len=max_container_len or min(items, 1024))


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True, datetime=False)


def unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise CodecError(f"malformed msgpack body: {e}") from None


def encode(obj: Any, content_type: str) -> bytes:
    if content_type == JSON:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return pack(obj)


class _Budget:
    """The hooks that count and check the values of a body as the decoder builds its maps and lists."""

    def __init__(self, limits: DecodeLimits) -> None:
        self.limits = limits
        self.left = limits.max_items

    def _spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise BodyTooLarge(f"the body holds more than {self.limits.max_items} values")

    def _check(self, value: Any) -> None:
        if value.__class__ is str:
            if "\x00" in value:
                raise CodecError("a string in the body contains NUL")
            if len(value) > self.limits.max_str_len:
                raise CodecError(f"a string in the body is longer than {self.limits.max_str_len}")

    def on_map(self, d: dict) -> dict:
        if len(d) > self.limits.max_container_len:
            raise CodecError(f"a map in the body has more than {self.limits.max_container_len} entries")
        self._spend(2 * len(d))
        for k, v in d.items():
            self._check(k)
            self._check(v)
        return d

    def on_list(self, items: list) -> list:
        self._spend(len(items))
        for v in items:
            self._check(v)
        return items


#: a JSON escape that may decode to NUL or to half of a surrogate pair (checked precisely then)
_SUSPECT_JSON_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")


def _check_strings(value: Any) -> None:
    """Every string in ``value``: no NUL, no lone surrogate (the slow path, for suspect JSON only)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _NUL_OR_SURROGATE.search(v):
                raise CodecError("a string in the body contains NUL or a lone surrogate (not UTF-8)")
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _decode_json(data: bytes, limits: DecodeLimits | None) -> Any:
    if limits is not None:
        # each JSON value but the first follows a comma or opens a container: a bound on the values
        # (and so on the memory) found before anything is built
        values = data.count(b",") + data.count(b"[") + data.count(b"{")
        if values > limits.max_items:
            raise BodyTooLarge(f"the body holds more than {limits.max_items} values")
    try:
        text = data.decode("utf-8")
        if limits is None:
            return json.loads(text)
        # the JSON decoder rejects raw control characters: a decoded NUL or lone surrogate can
        # only come from a \\u escape, so only bodies with such escapes pay for a full check
        value = json.loads(text, object_hook=_Budget(limits).on_map)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: nested too deep
        raise CodecError(f"malformed JSON body: {e}") from None
    if _SUSPECT_JSON_ESCAPE.search(data):
        _check_strings(value)
    elif isinstance(value, str) and len(value) > limits.max_str_len:
        raise CodecError(f"a string in the body is longer than {limits.max_str_len}")
    return value


def _decode_msgpack(data: bytes, limits: DecodeLimits | None) -> Any:
    if limits is None:
        return unpack(data)
    budget = _Budget(limits)
    n = limits.max_container_len
    try:
        value = msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True,
            max_str_len=limits.max_str_len, max_bin_len=limits.max_str_len, max_array_len=n, max_map_len=n,
            max_ext_len=0, object_hook=budget.on_map, list_hook=budget.on_list,
        )  # fmt: skip
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise CodecError(f"malformed msgpack body: {e}") from None
    budget._check(value)
    return value


def decode(data: bytes, content_type: str, limits: DecodeLimits | None = None) -> Any:
    """A msgpack or JSON body; with ``limits`` (a server reading a request), bounded and checked."""
    if content_type == JSON:
        return _decode_json(data, limits)
    if content_type == MSGPACK:
        return _decode_msgpack(data, limits)
    from .errors import UnsupportedMediaType

    raise UnsupportedMediaType()


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type / Accept value (parameters dropped)."""
    return (header or "").split(";", 1)[0].strip().lower()


def pick_response_type(accept: str | None, request_type: str | None) -> str:
    """The answer's encoding: the request body's, unless Accept asks otherwise.

    A JSON body is answered in JSON; msgpack whenever Accept names it; JSON when
    Accept names JSON; a msgpack body (or an Accept naming neither) in msgpack;
    and a body-less request from curl (``*/*`` or no Accept) in JSON.
    """
    req = media_type(request_type)
    if req == JSON:
        return JSON
    accept = (accept or "").lower()
    if MSGPACK in accept:
        return MSGPACK
    if JSON in accept:
        return JSON
    if req == MSGPACK:
        return MSGPACK
    if "*/*" in accept or not accept:
        return JSON
    return MSGPACK
