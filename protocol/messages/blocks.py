"""A file version's block list (``GET /v1/files/blocks``, ``POST /v1/files/blocks_batch``): its
blocks, each with a get grant, and the block servers that hold them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from protocol.errors import ProtocolError, TesseraError, error_from_wire

from .wire import Wire, answer

#: a lowercase hex digest (the client compares hashes as lowercase hex)
HEX = Wire(read=str.lower)
#: the URLs of the block servers
URLS = Wire(item_error="block_servers must be URLs")


@answer("file block")
@dataclass(frozen=True, slots=True)
class RemoteBlock:
    """One block of a stored file version, with a get grant."""

    index: int
    block_id: str
    size: int
    md5: Annotated[str, HEX]
    sha256: Annotated[str, HEX]
    grant: str


@answer("block list")
@dataclass(frozen=True, slots=True)
class BlockPage:
    """One page of a file version's block list (a batch's pages leave ``block_servers`` out for
    the batch's own: :meth:`batch_to_wire`)."""

    rev: int
    path: str
    size: int
    content_hash: Annotated[str, HEX]
    #: when this revision was committed (server clock, Unix seconds); None from an older server
    modified: float | None = field(default=None, kw_only=True)
    #: the file's modification time on the device that uploaded it; None if it did not say
    client_modified: float | None = field(default=None, kw_only=True)
    total: int
    start: int
    blocks: list[RemoteBlock]
    block_servers: Annotated[list[str], URLS]

    @property
    def file_time(self) -> float | None:
        """The modification time a download gives the file: the uploader's own, else the commit time."""
        return self.client_modified if self.client_modified is not None else self.modified

    @staticmethod
    def batch_to_wire(pages: list[BlockPage | TesseraError], block_servers: list[str]) -> dict[str, Any]:
        """A ``POST /v1/files/blocks_batch`` answer: the pages (or errors) in order, each without
        the block servers, which the answer names once."""
        files = []
        for p in pages:
            wire = p.to_wire()  # type: ignore[union-attr]
            if not isinstance(p, TesseraError):
                del wire["block_servers"]
            files.append(wire)
        return {"block_servers": block_servers, "files": files}

    @classmethod
    def list_from_batch(cls, answer: Any, count: int) -> list[BlockPage | TesseraError]:
        """The ``count`` pages of a ``POST /v1/files/blocks_batch`` answer, in order; a file the
        server could not answer as its error."""
        servers = answer.get("block_servers") if isinstance(answer, dict) else None
        results = answer.get("files") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != count:
            raise ProtocolError(f"the block list batch answer has no 'files' list of {count} items")
        out: list[BlockPage | TesseraError] = []
        for r in results:
            if isinstance(r, dict) and "error" in r:
                out.append(error_from_wire(0, r))
            else:
                out.append(cls.from_wire({**r, "block_servers": servers} if isinstance(r, dict) else r))  # type: ignore[attr-defined]
        return out
