"""Body encoding: the only module that imports msgpack.

Tessera speaks msgpack (``application/msgpack``) and, for curl and scripts,
JSON (``application/json``). Every message is made of JSON-compatible values
(hashes travel as hex strings), so the two encodings carry the same data.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

from .errors import BadRequest

MSGPACK = "application/msgpack"
JSON = "application/json"
CONTENT_TYPES = (MSGPACK, JSON)


class CodecError(BadRequest):
    """The request body could not be decoded."""


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


def decode(data: bytes, content_type: str) -> Any:
    if content_type == JSON:
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: nested too deep
            raise CodecError(f"malformed JSON body: {e}") from None
    if content_type == MSGPACK:
        return unpack(data)
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
