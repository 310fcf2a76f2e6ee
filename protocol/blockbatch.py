"""The framing of a block batch (``POST /v1/blocks/batch``).

A batch body is a sequence of frames::

    4-byte big-endian header length | msgpack header {"block_id", "grant"} | the block's bytes

The block's length is the size its put grant names, so the receiver knows
where the next frame starts without trusting anything but the signed grant.
"""

from __future__ import annotations

import struct

from . import codec

CONTENT_TYPE = "application/x-tessera-blocks"
MAX_BODY = 64 * 1024 * 1024
MAX_FRAMES = 1000
MAX_HEADER = 4096
LENGTH = struct.Struct(">I")


def frame_header(block_id: str, grant: str) -> bytes:
    """The bytes that go before a block's data in a batch body."""
    header = codec.pack({"block_id": block_id, "grant": grant})
    if len(header) > MAX_HEADER:
        raise ValueError("frame header too long")
    return LENGTH.pack(len(header)) + header


# -- the answer of a batch GET (``POST /v1/blocks/get_batch``) ------------------------------------------
#
# The answer body is a sequence of frames too, one per block asked for, in order::
#
#     4-byte big-endian header length | msgpack header | the block's bytes
#
# where the header is ``{"block_id", "size"}`` followed by ``size`` bytes, or
# ``{"block_id", "error": {...}}`` followed by nothing.

#: largest body of a batch GET request (the list of block ids and grants)
MAX_GET_REQUEST = 1024 * 1024


def answer_header(block_id: str, size: int) -> bytes:
    """The bytes before a block's data in a batch GET answer."""
    header = codec.pack({"block_id": block_id, "size": size})
    return LENGTH.pack(len(header)) + header


def error_header(block_id: str, error: dict) -> bytes:
    """A frame (no data follows) saying why a block of a batch GET is not there (``error``: to_wire())."""
    header = codec.pack({"block_id": block_id, **error})
    if len(header) > MAX_HEADER:
        header = codec.pack({"block_id": block_id, "error": {"code": error["error"]["code"], "message": ""}})
    return LENGTH.pack(len(header)) + header
