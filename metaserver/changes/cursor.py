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
            return cls.checked(ns_id, seq, after)
        except (ValueError, TypeError, BadRequest):
            raise BadRequest("the cursor is not valid") from None

    @classmethod
    def checked(cls, ns_id: object, seq: object, after: object) -> Cursor:
        """A position of decoded fields; ValueError if they are not one."""
        if not isinstance(ns_id, int) or not isinstance(seq, int) or not 0 <= seq < 1 << 63:
            raise ValueError("bad fields")
        if after is not None and (not isinstance(after, str) or "\x00" in after):
            raise ValueError("bad listing position")  # a path key never holds NUL
        return cls(ns_id, seq, after)


_TREE_PREFIX = "c2."
#: the most namespaces one cursor may name (a home and its mounts)
MAX_POSITIONS = 10_000


@dataclass(frozen=True, slots=True)
class TreeCursor:
    """A device's position in its whole tree: a :class:`Cursor` per namespace it covers (its
    home, first, and each share mounted in it). A namespace missing from it is listed from the
    start; one the tree no longer has is dropped (its mount's deletion is in the home's journal).
    A ``c1.`` cursor (one namespace, from servers before shared folders) reads as a tree cursor
    of its home alone."""

    positions: tuple[Cursor, ...]

    def encode(self) -> str:
        payload = codec.pack([[c.ns_id, c.seq, c.listing_after] for c in self.positions])
        return _TREE_PREFIX + base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")

    def by_namespace(self) -> dict[int, Cursor]:
        return {c.ns_id: c for c in self.positions}

    @classmethod
    def decode(cls, text: str) -> TreeCursor:
        if text.startswith(_PREFIX):
            return cls((Cursor.decode(text),))
        try:
            if not text.startswith(_TREE_PREFIX):
                raise ValueError(text[:8])
            raw = text[len(_TREE_PREFIX):]
            items = codec.unpack(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            if not isinstance(items, list) or not 1 <= len(items) <= MAX_POSITIONS:
                raise ValueError("bad positions")
            return cls(tuple(Cursor.checked(*item) for item in items))
        except (ValueError, TypeError, BadRequest):
            raise BadRequest("the cursor is not valid") from None
