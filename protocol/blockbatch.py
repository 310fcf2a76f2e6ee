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
