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

from .models import RemoteBlock, _get, _list, _obj


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
        obj = _obj(value, what)
        return cls(
            upload_id=_get(obj, "upload_id", str, what),
            path=_get(obj, "path", str, what),
            size=_get(obj, "size", int, what),
            content_hash=_get(obj, "content_hash", str, what).lower(),
            block_count=_get(obj, "block_count", int, what),
            stored=_get(obj, "stored", int, what),
        )


def incoming_list_from_wire(value: Any) -> list[IncomingUpload]:
    return [
        IncomingUpload.from_wire(u)
        for u in _list(_obj(value, "incoming uploads"), "uploads", "incoming uploads")
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
        obj = _obj(value, what)
        servers = _list(obj, "block_servers", what)
        if not all(isinstance(s, str) for s in servers):
            raise ProtocolError(f"{what}: block_servers must be URLs")
        indexes: list[int] = []
        stored: list[RemoteBlock] = []
        for raw in _list(obj, "blocks", what):
            b = _obj(raw, what)
            indexes.append(_get(b, "index", int, what))
            if _get(b, "stored", bool, what):
                stored.append(RemoteBlock.from_wire(b))
        return cls(
            upload_id=_get(obj, "upload_id", str, what),
            path=_get(obj, "path", str, what),
            size=_get(obj, "size", int, what),
            content_hash=_get(obj, "content_hash", str, what).lower(),
            total=_get(obj, "total", int, what),
            start=_get(obj, "start", int, what),
            block_servers=servers,
            indexes=indexes,
            stored=stored,
        )
