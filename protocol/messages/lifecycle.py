"""The storage lifecycle: what the caller's namespaces take (``GET /v1/usage``) and the trash
(``GET /v1/trash``, ``POST /v1/trash/restore``, ``POST /v1/trash/purge``: their requests and
answers; a restore answers :class:`~protocol.messages.files.Metadata`). A file's history and its
restore are in :mod:`.files`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from protocol import paths
from protocol.errors import BadRequest

from .files import IN_FILES, PATH
from .wire import Wire, answer, request

#: a field only an item (the entry the user deleted) has
IN_ITEMS = Wire(when=("item", True), required=True)


@dataclass(frozen=True, slots=True)
class Usage:
    """A namespace's counters, or their sum, in bytes (metaserver/tree/usage.py): the current
    versions of its files, every other version, the last versions of its files in the trash
    (logical sizes), and what its distinct referenced blocks take (``stored_bytes``: what quotas
    count)."""

    current_bytes: int
    version_bytes: int
    trash_bytes: int
    stored_bytes: int

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.current_bytes + other.current_bytes,
            self.version_bytes + other.version_bytes,
            self.trash_bytes + other.trash_bytes,
            self.stored_bytes + other.stored_bytes,
        )


@answer("namespace usage")
@dataclass(frozen=True, slots=True)
class NamespaceUsage:
    """One namespace the caller owns, with its counters (:class:`Usage`)."""

    ns_id: int
    #: "home" today ("shared" once shared folders land)
    kind: str
    current_bytes: int
    version_bytes: int
    trash_bytes: int
    stored_bytes: int

    @property
    def usage(self) -> Usage:
        return Usage(self.current_bytes, self.version_bytes, self.trash_bytes, self.stored_bytes)


@answer("usage")
@dataclass(frozen=True, slots=True)
class UsageReport:
    """A user's usage (``GET /v1/usage``): the namespaces they own, and their sums; what their
    quota counts (``used_bytes``: the stored bytes of those namespaces)."""

    quota_bytes: int | None
    used_bytes: int
    #: days deleted files and replaced versions are kept
    retention_days: int
    current_bytes: int
    version_bytes: int
    trash_bytes: int
    stored_bytes: int
    namespaces: list[NamespaceUsage]

    @property
    def total(self) -> Usage:
        return Usage(self.current_bytes, self.version_bytes, self.trash_bytes, self.stored_bytes)


@answer("trash entry")
@dataclass(frozen=True, slots=True)
class TrashEntry:
    """Something in the trash: a file or folder the user deleted (``item``), or one deleted with
    such a folder, inside it."""

    id: int
    item: bool
    kind: Literal["file", "folder"]
    path: Annotated[str, PATH]
    name: str
    #: when it was deleted (Unix seconds), from which device, by whom (None: not known)
    deleted: float
    device: str | None
    user: str | None
    #: a file's last revision, its number in the file's history, and its size
    rev: Annotated[int | None, IN_FILES] = None
    version: Annotated[int | None, IN_FILES] = None
    size: Annotated[int | None, IN_FILES] = None
    #: an item: the files it holds and the bytes of their last revisions
    files: Annotated[int | None, IN_ITEMS] = None
    bytes: Annotated[int | None, IN_ITEMS] = None


@answer("trash listing")
@dataclass(frozen=True, slots=True)
class TrashPage:
    """One page of ``GET /v1/trash``: newest first; pass ``cursor`` for the next while ``has_more``."""

    entries: list[TrashEntry]
    cursor: str
    has_more: bool


@answer("purge answer")
@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What one ``POST /v1/trash/purge`` did: files deleted for good, bytes of blocks freed (the
    quota's figure went down by this), and whether the purge is done (else ask again)."""

    files: int
    freed_bytes: int
    done: bool


def _trash_id(value: int) -> bool:
    return 0 < value < 1 << 62


_ID_ERROR = "id must be a positive integer below 2^62 (an entry's id in the trash listing)"
#: a path a client names: normalised (a bad one is 400 bad_path)
REQUEST_PATH = Wire(parse=paths.normalize, write=paths.normalize)
#: the entry of that path to take, as the listing gives it (None: the latest deleted there)
TRASH_ID = Wire(omit=True, error=_ID_ERROR, check=(_trash_id, _ID_ERROR))


@request("trash restore")
@dataclass(frozen=True, slots=True)
class TrashRestore:
    """``POST /v1/trash/restore``: bring back what was deleted at ``path`` (the latest, or the
    entry ``id`` there) with everything deleted with it below it."""

    path: Annotated[str, REQUEST_PATH]
    id: Annotated[int | None, TRASH_ID] = None


@request("trash purge")
@dataclass(frozen=True, slots=True)
class TrashPurge:
    """``POST /v1/trash/purge``: what is in the trash at or below ``path`` (of the entry ``id``
    there only, if given), or everything (``all``)."""

    path: Annotated[str | None, Wire(omit=True, parse=paths.normalize, write=paths.normalize)] = None
    id: Annotated[int | None, TRASH_ID] = None
    all: Annotated[bool, Wire(omit=True, error="all must be true or false")] = False

    @classmethod
    def _wire_rules(cls, body: dict[str, Any], f: dict[str, Any]) -> None:
        if f["all"]:
            if f["path"] is not None or f["id"] is not None:
                raise BadRequest("purge either all, or a path (with an id)")
        elif f["path"] is None:
            raise BadRequest("name a path to purge, or send all: true")
        elif f["path"] == paths.ROOT:
            raise BadRequest("to empty the whole trash, send all: true")
