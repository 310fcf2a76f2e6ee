"""The property every message has: what ``to_wire`` writes, ``from_wire`` reads back unchanged,
also after a trip through either encoding of the wire (msgpack, JSON)."""

from __future__ import annotations

from typing import Any

from protocol import codec


def assert_round_trip(message: Any) -> None:
    cls = type(message)
    wire = message.to_wire()
    assert cls.from_wire(wire) == message
    for ctype in codec.CONTENT_TYPES:
        assert cls.from_wire(codec.decode(codec.encode(wire, ctype), ctype)) == message
