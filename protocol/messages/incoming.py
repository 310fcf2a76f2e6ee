"""Pending uploads of other devices, as the server offers them (streaming sync, docs/api.md).

The list of a namespace's pending uploads of large files (``GET /v1/uploads/incoming``), and
one page of such an upload's block list (``GET /v1/uploads/incoming/{id}``), in which every
stored block carries a get grant: a device fetches those before the upload is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from .blocks import HEX, URLS, RemoteBlock
from .files import PATH
from .wire import Wire, answer


@answer("incoming upload")
@dataclass(frozen=True, slots=True)
class IncomingUpload:
    """A pending upload of another device."""

    upload_id: str
    path: Annotated[str, PATH]
    size: int
    content_hash: Annotated[str, HEX]
    block_count: int
    #: blocks stored so far
    stored: int
    #: the device uploading it
    device: str | None = None
    #: when the session expires (Unix seconds)
    expires_at: float | None = None


@answer("incoming uploads")
@dataclass(frozen=True, slots=True)
class IncomingUploads:
    uploads: list[IncomingUpload]


@answer("incoming block")
@dataclass(frozen=True, slots=True)
class IncomingBlock:
    """One block of a pending upload; a stored one with a get grant."""

    index: int
    block_id: str
    size: int
    md5: Annotated[str, HEX]
    sha256: Annotated[str, HEX]
    stored: bool
    grant: Annotated[str | None, Wire(when=("stored", True), required=True)] = None


@answer("incoming block list")
@dataclass(frozen=True, slots=True)
class IncomingPage:
    """One page of a pending upload's block list: :attr:`stored` are the blocks that can be fetched now."""

    upload_id: str
    path: Annotated[str, PATH]
    size: int
    content_hash: Annotated[str, HEX]
    total: int
    start: int
    block_servers: Annotated[list[str], URLS]
    blocks: list[IncomingBlock]

    @property
    def indexes(self) -> list[int]:
        """The indexes of this page, in order."""
        return [b.index for b in self.blocks]

    @property
    def stored(self) -> list[RemoteBlock]:
        """The stored blocks of this page, each with a get grant."""
        return [
            RemoteBlock(b.index, b.block_id, b.size, b.md5, b.sha256, b.grant)  # type: ignore[arg-type]
            for b in self.blocks
            if b.stored
        ]
