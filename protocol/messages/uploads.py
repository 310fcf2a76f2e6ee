"""Upload sessions: what a client asks for (``POST /v1/uploads``, a file of ``POST /v1/uploads/batch``,
the next part of a block list), with the checks the server makes, and the session it answers.

The upload modes and the request checks are here, once: the client checks a mode before it
sends it, and the server reads every request with :meth:`UploadRequest.from_wire`, which
refuses (400) what breaks a rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from protocol import hashing, paths
from protocol.errors import BadRequest, IsAFolder
from protocol.hashing import BlockHash
from protocol.times import MAX_FILE_TIME, valid_file_time

from .blocks import URLS
from .wire import Wire, answer, request, wire_error

#: overwrite whatever is there; add only where nothing is; update only the revision named
UploadMode = Literal["overwrite", "add", "update"]
UPLOAD_MODES: tuple[str, ...] = ("overwrite", "add", "update")
MODE_ERROR = f"mode must be one of {', '.join(UPLOAD_MODES)}"
MAX_FILE_SIZE = 1 << 40  # 1 TiB
#: blocks one part of a block list may hold (a part of 10,000 is 40 GiB of file)
MAX_PART_BLOCKS = 10_000
#: a refusal made in several places (a create, a part of a list)
WRONG_CONTENT_HASH = "content_hash does not match the blocks' SHA-256s"


def check_mode(mode: str) -> None:
    """BadRequest unless ``mode`` is one of :data:`UPLOAD_MODES`."""
    if mode not in UPLOAD_MODES:
        raise BadRequest(MODE_ERROR)


def check_block_sizes(size: int, start: int, blocks: Sequence[BlockHash], complete: bool) -> None:
    """BadRequest unless ``blocks`` are the blocks of a file of ``size`` bytes from index ``start``
    on (all the rest of them if ``complete``): 4 MiB each, the last one shorter."""
    want = hashing.expected_block_sizes(size)
    got = [b.size for b in blocks]
    part = want[start : start + len(got)] if not complete else want[start:]
    if got != part or start + len(got) > len(want):
        raise BadRequest(
            f"a file of {size} bytes has {len(want)} blocks of {hashing.BLOCK_SIZE} bytes (the last one "
            f"shorter); the block list {'from index ' + str(start) + ' ' if start else ''}does not match"
        )


def _content_hash(value: Any) -> str:
    return hashing.check_hex(value, hashing.SHA256_HEX_LEN, "content_hash")


def _file_size(size: int) -> bool:
    return 0 <= size <= MAX_FILE_SIZE


_SIZE_ERROR = f"size must be an integer in 0..{MAX_FILE_SIZE}"
_TIME_ERROR = f"client_modified must be Unix seconds in 0..{MAX_FILE_TIME} or null"
_REV_ERROR = "parent_rev must be a positive integer or null"


def _revision(rev: int) -> bool:
    """A revision number the database's ``bigint`` can hold."""
    return 0 < rev < 1 << 63


@request("upload request")
@dataclass(frozen=True, slots=True)
class UploadRequest:
    """One file's upload session as asked for (see :meth:`ApiClient.create_upload
    <client.api.client.ApiClient.create_upload>` for the fields). On the wire the path is
    normalised and the fields at their defaults are left out.

    Read by the server, the request is checked whole: ``content_hash`` is then the one computed
    from the blocks (None while the block list is open), the one sent having been checked."""

    path: Annotated[str, Wire(parse=paths.normalize, write=paths.normalize)]
    size: Annotated[int, Wire(error=_SIZE_ERROR, check=(_file_size, _SIZE_ERROR))]
    blocks: Annotated[Sequence[BlockHash], Wire(error="blocks must be a list")]
    content_hash: Annotated[str | None, Wire(omit=True, parse=_content_hash)] = None
    mode: Annotated[UploadMode, Wire(omit=True, error=MODE_ERROR)] = "overwrite"
    parent_rev: Annotated[int | None, Wire(omit=True, error=_REV_ERROR, check=(_revision, _REV_ERROR))] = None
    #: the file's modification time on the uploading device (Unix seconds), if it said
    client_modified: Annotated[float | None, Wire(omit=True, error=_TIME_ERROR, check=(valid_file_time, _TIME_ERROR))] = None
    #: False: ``blocks`` is the first part of the list (the rest comes in order, no content_hash)
    blocks_complete: Annotated[bool, Wire(omit=True, error="blocks_complete must be true or false")] = True

    @property
    def client_modified_at(self) -> datetime | None:
        return None if self.client_modified is None else datetime.fromtimestamp(self.client_modified, UTC)

    @classmethod
    def _wire_rules(cls, body: dict[str, Any], f: dict[str, Any]) -> None:
        if f["path"] == paths.ROOT:
            raise IsAFolder("cannot upload onto the root folder")
        check_block_sizes(f["size"], 0, f["blocks"], f["blocks_complete"])
        claimed = f["content_hash"]
        if not f["blocks_complete"]:
            if claimed is not None:
                raise BadRequest("content_hash is computed once the block list is complete; do not send it before")
        else:
            f["content_hash"] = hashing.content_hash(b.sha256 for b in f["blocks"])
            if claimed is not None and claimed != f["content_hash"]:
                raise BadRequest(WRONG_CONTENT_HASH)
        if f["mode"] == "update" and f["parent_rev"] is None:
            raise BadRequest("mode 'update' needs parent_rev")


def _block_index(start: int) -> bool:
    return 0 <= start < 1 << 31


def _part_length(blocks: list[Any]) -> bool:
    return 0 < len(blocks) <= MAX_PART_BLOCKS


_START_ERROR = "start must be the index of the part's first block"
_PART_ERROR = f"blocks must be a list of 1..{MAX_PART_BLOCKS} blocks"


@request("block list part")
@dataclass(frozen=True, slots=True)
class BlocksPart:
    """The next part of an open session's block list (``POST /v1/uploads/{id}/blocks``)."""

    #: the index of the part's first block
    start: Annotated[int, Wire(error=_START_ERROR, check=(_block_index, _START_ERROR))]
    blocks: Annotated[
        Sequence[BlockHash], Wire(error=_PART_ERROR, check=(_part_length, _PART_ERROR))
    ]
    #: with the part that completes the list, the file's content hash (checked by the server)
    content_hash: Annotated[str | None, Wire(omit=True, parse=_content_hash)] = None


@answer("upload block")
@dataclass(frozen=True, slots=True)
class UploadBlock:
    index: int
    block_id: str
    state: Literal["stored", "needed"]
    #: the put grant; on only one of the blocks that share an id
    grant: Annotated[str | None, Wire(omit=True)] = None


@answer("upload session")
@dataclass(frozen=True, slots=True)
class UploadSession:
    """An upload session, or the answer to one part of its block list (``blocks`` are then the part's)."""

    upload_id: str
    path: str
    size: int
    #: "" while the block list is still open (null on the wire)
    content_hash: Annotated[str, Wire(null="")]
    expires_at: float
    block_servers: Annotated[list[str], URLS]
    blocks: list[UploadBlock]
    needed: int
    #: blocks listed so far (all of them once the list is complete)
    blocks_listed: Annotated[int, Wire(optional=True)] = 0
    blocks_complete: Annotated[bool, Wire(optional=True)] = True

    def to_batch_wire(self) -> dict[str, Any]:
        """The session as ``POST /v1/uploads/batch`` answers it: without ``blocks_listed`` and
        ``blocks_complete`` (a batch takes whole block lists only)."""
        out = self.to_wire()  # type: ignore[attr-defined]
        del out["blocks_listed"], out["blocks_complete"]
        return out

    @classmethod
    def _wire_rules(cls, obj: dict[str, Any], f: dict[str, Any]) -> None:
        if f["blocks_complete"] and obj.get("content_hash") is None:
            raise wire_error(cls, "field 'content_hash' is missing or has the wrong type")
        if obj.get("blocks_listed") is None:  # a batch's answer: the whole list
            f["blocks_listed"] = len(f["blocks"])
