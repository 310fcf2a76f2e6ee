"""Change-feed cursors: an opaque encoding of the journal positions a client has seen.

A cursor maps each namespace to the last sequence number seen. While the
initial listing of a tree is being paged, it also carries the snapshot's
sequence number and the last path key listed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from protocol import codec
from protocol.errors import BadRequest

_PREFIX = "c1."


@dataclass(frozen=True, slots=True)
class Cursor:
    ns_id: int
    seq: int
    #: set while paging the initial listing: the last path key listed so far
    listing_after: str | None = None

    def encode(self) -> str:
        payload = codec.pack([self.ns_id, self.seq, self.listing_after])
        return _PREFIX + base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            if not text.startswith(_PREFIX):
                raise ValueError(text[:8])
            raw = text[len(_PREFIX):]
            ns_id, seq, after = codec.unpack(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            if not isinstance(ns_id, int) or not isinstance(seq, int) or not 0 <= seq < 1 << 63:
                raise ValueError("bad fields")
            if after is not None and (not isinstance(after, str) or "\x00" in after):
                raise ValueError("bad listing position")  # a path key never holds NUL
            return cls(ns_id, seq, after)
        except (ValueError, TypeError, BadRequest):
            raise BadRequest("the cursor is not valid") from None
