"""Files and folders: the metadata of an entry, a page of a folder listing, the versions of a file
and a restore of one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from protocol import paths
from protocol.errors import BadRequest

from .wire import Wire, answer, request

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
    #: a shared folder's mount point (in its parent's listing and its own metadata): the share's
    #: namespace and the caller's role in it; absent elsewhere
    shared: Annotated[bool, Wire(omit=True)] = False
    ns_id: Annotated[int | None, Wire(omit=True)] = None
    role: Annotated[Literal["owner", "editor", "viewer"] | None, Wire(omit=True)] = None

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


@answer("revision")
@dataclass(frozen=True, slots=True)
class Revision:
    """One version of a file: a file's metadata at the path it was saved to, with its number in the
    file's history (``version``: 1 = the first) and who made it."""

    kind: Literal["file"]
    path: Annotated[str, PATH]
    name: str
    rev: int
    version: int
    size: int
    content_hash: str
    #: when it was committed (the server's clock)
    modified: float
    device: str | None
    #: the name of the user who made it (None if that user is gone)
    user: str | None = None
    #: the file's modification time on the device that uploaded it (None: it did not say)
    client_modified: float | None = None

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()  # type: ignore[attr-defined]


@answer("revisions")
@dataclass(frozen=True, slots=True)
class Revisions:
    """The versions of the file a path names, newest first (``GET /v1/files/revisions``).

    History follows the file: across moves and renames, into the trash and back."""

    #: where the file is now (a path it was moved away from names the file at its new path)
    path: str
    #: the file is in the trash: every version can still be restored
    deleted: bool
    #: the current revision (None when deleted)
    rev: int | None
    revisions: list[Revision]

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()  # type: ignore[attr-defined]


def _rev(value: int) -> bool:
    return 0 < value < 1 << 63  # a bigint


def _version(value: int) -> bool:
    return 0 < value < 1 << 31


_REV_ERROR = "rev must be a positive integer below 2^63"
_VERSION_ERROR = "version must be a positive integer below 2^31 (its number in the file's history)"


@request("restore")
@dataclass(frozen=True, slots=True)
class Restore:
    """``POST /v1/files/restore``: make a version of the file ``path`` names its current content
    again, named by its ``rev`` or by its ``version`` number in the file's history (one of them)."""

    path: Annotated[str, Wire(parse=paths.normalize, write=paths.normalize)]
    rev: Annotated[int | None, Wire(omit=True, error=_REV_ERROR, check=(_rev, _REV_ERROR))] = None
    version: Annotated[int | None, Wire(omit=True, error=_VERSION_ERROR, check=(_version, _VERSION_ERROR))] = None

    @classmethod
    def _wire_rules(cls, body: dict[str, Any], f: dict[str, Any]) -> None:
        if (f["rev"] is None) == (f["version"] is None):
            raise BadRequest("name the version to restore: either rev or version (its number in the file's history)")
