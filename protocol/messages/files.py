"""Files and folders: the metadata of an entry, a page of a folder listing, the revisions of a path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from protocol import paths

from .wire import Wire, answer

#: "pending" only comes in the change feed: an upload to that path has started (not committed)
Kind = Literal["file", "folder", "deleted", "pending"]
KINDS: tuple[str, ...] = ("file", "folder", "deleted", "pending")

#: a path in an answer: it follows the path rules (no ``..``, no empty or control characters), so
#: that no server's answer makes the client reach outside its tree; read NFC-normalised
PATH = Wire(read=paths.normalize, read_error="is not a valid path")
#: a field only files have (on the wire only when ``kind`` is "file")
IN_FILES = Wire(when=("kind", "file"), required=True)
#: a field files may leave null
MAYBE_IN_FILES = Wire(when=("kind", "file"))


@answer("metadata")
@dataclass(frozen=True, slots=True)
class Metadata:
    """A file, a folder, a deletion marker or (in the change feed) a pending upload."""

    kind: Kind
    path: Annotated[str, PATH]
    name: str
    rev: Annotated[int | None, IN_FILES] = None
    size: Annotated[int | None, IN_FILES] = None
    content_hash: Annotated[str | None, IN_FILES] = None
    #: when the revision was committed (the server's clock)
    modified: Annotated[float | None, MAYBE_IN_FILES] = None
    device: Annotated[str | None, MAYBE_IN_FILES] = None
    #: the file's modification time on the device that uploaded it (None: that device did not say)
    client_modified: Annotated[float | None, MAYBE_IN_FILES] = None

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def is_folder(self) -> bool:
        return self.kind == "folder"

    def to_json(self) -> dict[str, Any]:
        """What the CLI prints with ``--json``: the wire form."""
        return self.to_wire()  # type: ignore[attr-defined]


@answer("folder listing")
@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a folder listing (``GET /v1/files/list``)."""

    entries: list[Metadata]
    cursor: str | None
    has_more: bool


@answer("revisions")
@dataclass(frozen=True, slots=True)
class Revisions:
    """The revisions a path has had, newest first (``GET /v1/files/revisions``)."""

    path: str
    #: the path holds no file now (it was deleted): every revision can still be restored
    deleted: bool
    #: the current revision (None when deleted)
    rev: int | None
    revisions: list[Metadata]

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()  # type: ignore[attr-defined]
