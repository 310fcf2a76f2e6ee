"""What a client asks for when it opens an upload session (``POST /v1/uploads``), checked.

:class:`UploadRequest` reads and checks one request body (a single upload or an
item of a batch); :func:`check_block_sizes` checks that blocks are those of a
file's 4 MiB split, for a whole list or a part of one (:mod:`metaserver.uploads.append`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from protocol import hashing, paths
from protocol.errors import BadRequest, IsAFolder
from protocol.times import MAX_FILE_TIME, valid_file_time

MODES = ("add", "overwrite", "update")
MAX_FILE_SIZE = 1 << 40  # 1 TiB
#: refusals made in several places (a create, a part of a list, a single or batch commit)
WRONG_CONTENT_HASH = "content_hash does not match the blocks' SHA-256s"
LIST_NOT_COMPLETE = "the upload's block list is not complete: list the rest before the commit"


@dataclass(frozen=True, slots=True)
class UploadRequest:
    path: str
    size: int
    blocks: tuple[hashing.BlockHash, ...]
    content_hash: str
    mode: str
    parent_rev: int | None
    #: the file's modification time on the uploading device (Unix seconds), if it said
    client_modified: float | None = None
    #: False: ``blocks`` is the first part of the list (the rest comes in order); ``content_hash`` is ""
    complete: bool = True

    @property
    def client_modified_at(self) -> datetime | None:
        return None if self.client_modified is None else datetime.fromtimestamp(self.client_modified, UTC)

    @classmethod
    def from_wire(cls, body: Any) -> UploadRequest:
        if not isinstance(body, dict):
            raise BadRequest("the body must be an object")
        path = paths.normalize(body.get("path"))
        if path == paths.ROOT:
            raise IsAFolder("cannot upload onto the root folder")
        size = body.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_SIZE:
            raise BadRequest(f"size must be an integer in 0..{MAX_FILE_SIZE}")
        raw_blocks = body.get("blocks")
        if not isinstance(raw_blocks, list):
            raise BadRequest("blocks must be a list")
        blocks = tuple(hashing.BlockHash.from_wire(b) for b in raw_blocks)
        complete = body.get("blocks_complete", True)
        if not isinstance(complete, bool):
            raise BadRequest("blocks_complete must be true or false")
        check_block_sizes(size, 0, blocks, complete)
        claimed = body.get("content_hash")
        if not complete:
            if claimed is not None:
                raise BadRequest("content_hash is computed once the block list is complete; do not send it before")
            computed = ""
        else:
            computed = hashing.content_hash(b.sha256 for b in blocks)
            if claimed is not None and hashing.check_hex(claimed, 64, "content_hash") != computed:
                raise BadRequest(WRONG_CONTENT_HASH)
        mode = body.get("mode", "overwrite")
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}")
        parent_rev = body.get("parent_rev")
        if parent_rev is not None and (
            not isinstance(parent_rev, int) or isinstance(parent_rev, bool) or not 0 < parent_rev < 1 << 63
        ):
            raise BadRequest("parent_rev must be a positive integer or null")
        if mode == "update" and parent_rev is None:
            raise BadRequest("mode 'update' needs parent_rev")
        client_modified = body.get("client_modified")
        if client_modified is not None and not valid_file_time(client_modified):
            raise BadRequest(f"client_modified must be Unix seconds in 0..{MAX_FILE_TIME} or null")
        return cls(path, size, blocks, computed, mode, parent_rev,
                   None if client_modified is None else float(client_modified), complete)  # fmt: skip


def check_block_sizes(size: int, start: int, blocks: Sequence[hashing.BlockHash], complete: bool) -> None:
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
