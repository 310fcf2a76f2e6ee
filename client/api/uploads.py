"""What an upload session is opened with: the body of ``POST /v1/uploads`` (one file) and of each
file of ``POST /v1/uploads/batch``, and the upload modes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocol import paths
from protocol.errors import BadRequest
from protocol.hashing import BlockHash

#: overwrite whatever is there; add only where nothing is; update only the revision named
UPLOAD_MODES = ("overwrite", "add", "update")


def check_mode(mode: str) -> None:
    """BadRequest unless ``mode`` is one of :data:`UPLOAD_MODES`."""
    if mode not in UPLOAD_MODES:
        raise BadRequest(f"mode must be one of {', '.join(UPLOAD_MODES)}")


@dataclass(frozen=True, slots=True)
class UploadRequest:
    """One file's upload session as asked for (see :meth:`ApiClient.create_upload
    <client.api.client.ApiClient.create_upload>` for the fields)."""

    path: str
    size: int
    blocks: Sequence[BlockHash]
    content_hash: str | None = None
    mode: str = "overwrite"
    parent_rev: int | None = None
    client_modified: float | None = None
    blocks_complete: bool = True

    def to_wire(self) -> dict[str, Any]:
        """The request body (the path normalised; fields at their defaults left out)."""
        body: dict[str, Any] = {
            "path": paths.normalize(self.path),
            "size": self.size,
            "blocks": [b.to_wire() for b in self.blocks],
        }
        if self.content_hash is not None:
            body["content_hash"] = self.content_hash
        if self.mode != "overwrite":
            body["mode"] = self.mode
        if self.parent_rev is not None:
            body["parent_rev"] = self.parent_rev
        if self.client_modified is not None:
            body["client_modified"] = self.client_modified
        if not self.blocks_complete:
            body["blocks_complete"] = False
        return body
