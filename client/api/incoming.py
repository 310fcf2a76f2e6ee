"""Pending uploads of other devices, as the server offers them (``GET /v1/uploads/incoming``).

The wire forms of streaming sync (see docs/api.md): the list of a namespace's
pending uploads of large files, and one page of such an upload's block list, in
which every stored block carries a get grant. :mod:`client.sync.remote.prefetch`
fetches those blocks before the upload is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.errors import ProtocolError

from . import wire
from .models import RemoteBlock


@dataclass(frozen=True, slots=True)
class IncomingUpload:
    """A pending upload of another device."""

    upload_id: str
    path: str
    size: int
    content_hash: str
    block_count: int
    #: blocks stored so far
    stored: int

    @classmethod
    def from_wire(cls, value: Any) -> IncomingUpload:
        what = "incoming upload"
        obj = wire.obj(value, what)
        return cls(
            upload_id=wire.get(obj, "upload_id", str, what),
            path=wire.path(obj, "path", what),
            size=wire.get(obj, "size", int, what),
            content_hash=wire.get(obj, "content_hash", str, what).lower(),
            block_count=wire.get(obj, "block_count", int, what),
            stored=wire.get(obj, "stored", int, what),
        )


def incoming_list_from_wire(value: Any) -> list[IncomingUpload]:
    return [
        IncomingUpload.from_wire(u)
        for u in wire.get_list(wire.obj(value, "incoming uploads"), "uploads", "incoming uploads")
    ]


@dataclass(frozen=True, slots=True)
class IncomingPage:
    """One page of a pending upload's block list: ``stored`` holds the blocks that can be fetched now."""

    upload_id: str
    path: str
    size: int
    content_hash: str
    total: int
    start: int
    block_servers: list[str]
    #: indexes of this page, in order
    indexes: list[int]
    #: the stored blocks of this page, each with a get grant
    stored: list[RemoteBlock]

    @classmethod
    def from_wire(cls, value: Any) -> IncomingPage:
        what = "incoming block list"
        obj = wire.obj(value, what)
        servers = wire.get_list(obj, "block_servers", what)
        if not all(isinstance(s, str) for s in servers):
            raise ProtocolError(f"{what}: block_servers must be URLs")
        indexes: list[int] = []
        stored: list[RemoteBlock] = []
        for raw in wire.get_list(obj, "blocks", what):
            b = wire.obj(raw, what)
            indexes.append(wire.get(b, "index", int, what))
            if wire.get(b, "stored", bool, what):
                stored.append(RemoteBlock.from_wire(b))
        return cls(
            upload_id=wire.get(obj, "upload_id", str, what),
            path=wire.path(obj, "path", what),
            size=wire.get(obj, "size", int, what),
            content_hash=wire.get(obj, "content_hash", str, what).lower(),
            total=wire.get(obj, "total", int, what),
            start=wire.get(obj, "start", int, what),
            block_servers=servers,
            indexes=indexes,
            stored=stored,
        )
