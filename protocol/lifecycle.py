"""Wire messages of the storage lifecycle: a file's history (``GET /v1/files/revisions``), usage
(``GET /v1/usage``), the trash (``GET /v1/trash``, ``POST /v1/trash/purge``); see docs/api.md.

The metadata server builds them and sends ``to_wire()``; the client reads them with
``from_wire()``, which raises :class:`~protocol.errors.ProtocolError` when an answer does not
have the shape it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _get(obj: dict[str, Any], key: str, typ: type | tuple[type, ...], what: str, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        raise ProtocolError(f"{what}: field {key!r} is missing or has the wrong type")
    return value


@dataclass(frozen=True, slots=True)
class Revision:
    """One version of a file: a file's metadata (docs/api.md) at the path it was saved to, with its
    number in the file's history (``version``: 1 = the first) and who made it."""

    rev: int
    version: int
    path: str
    size: int
    content_hash: str
    #: when it was committed (Unix seconds, the server's clock)
    modified: float
    device: str | None
    #: the name of the user who made it (None if that user is gone)
    user: str | None = None
    #: the file's modification time on the device that uploaded it (None: it did not say)
    client_modified: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": "file", "path": self.path, "name": self.path.rsplit("/", 1)[-1], "rev": self.rev,
            "version": self.version, "size": self.size, "content_hash": self.content_hash,
            "modified": self.modified, "device": self.device, "user": self.user,
            "client_modified": self.client_modified,
        }  # fmt: skip

    @classmethod
    def from_wire(cls, value: Any) -> Revision:
        what = "revision"
        obj = _obj(value, what)
        client_modified = _get(obj, "client_modified", (int, float), what, optional=True)
        return cls(
            rev=_get(obj, "rev", int, what),
            version=_get(obj, "version", int, what),
            path=_get(obj, "path", str, what),
            size=_get(obj, "size", int, what),
            content_hash=_get(obj, "content_hash", str, what),
            modified=float(_get(obj, "modified", (int, float), what)),
            device=_get(obj, "device", str, what, optional=True),
            user=_get(obj, "user", str, what, optional=True),
            client_modified=None if client_modified is None else float(client_modified),
        )

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()


@dataclass(frozen=True, slots=True)
class Revisions:
    """The versions of the file a path names, newest first (``GET /v1/files/revisions``).

    History follows the file: across moves and renames, into the trash and back.
    """

    #: where the file is now (a path it was moved away from names the file at its new path)
    path: str
    #: the file is in the trash: every version can still be restored
    deleted: bool
    #: the current revision (None when deleted)
    rev: int | None
    revisions: tuple[Revision, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"path": self.path, "deleted": self.deleted, "rev": self.rev,
                "revisions": [r.to_wire() for r in self.revisions]}  # fmt: skip

    @classmethod
    def from_wire(cls, value: Any) -> Revisions:
        what = "revisions"
        obj = _obj(value, what)
        return cls(
            path=_get(obj, "path", str, what),
            deleted=_get(obj, "deleted", bool, what),
            rev=_get(obj, "rev", int, what, optional=True),
            revisions=tuple(Revision.from_wire(r) for r in _get(obj, "revisions", list, what)),
        )

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()


@dataclass(frozen=True, slots=True)
class Usage:
    """A namespace's counters, in bytes (metaserver/tree/usage.py): the current versions of its
    files, the last versions of its files in the trash, every other version (logical sizes), and
    what its distinct referenced blocks take (``stored_bytes``: what quotas count)."""

    current_bytes: int
    version_bytes: int
    trash_bytes: int
    stored_bytes: int

    def to_wire(self) -> dict[str, int]:
        return {
            "current_bytes": self.current_bytes,
            "version_bytes": self.version_bytes,
            "trash_bytes": self.trash_bytes,
            "stored_bytes": self.stored_bytes,
        }

    @classmethod
    def from_wire(cls, value: Any, what: str = "usage") -> Usage:
        obj = _obj(value, what)
        return cls(*(_get(obj, k, int, what) for k in ("current_bytes", "version_bytes", "trash_bytes", "stored_bytes")))

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.current_bytes + other.current_bytes,
            self.version_bytes + other.version_bytes,
            self.trash_bytes + other.trash_bytes,
            self.stored_bytes + other.stored_bytes,
        )


@dataclass(frozen=True, slots=True)
class NamespaceUsage:
    ns_id: int
    kind: str  # home | shared
    usage: Usage

    def to_wire(self) -> dict[str, Any]:
        return {"ns_id": self.ns_id, "kind": self.kind, **self.usage.to_wire()}

    @classmethod
    def from_wire(cls, value: Any) -> NamespaceUsage:
        what = "namespace usage"
        obj = _obj(value, what)
        return cls(_get(obj, "ns_id", int, what), _get(obj, "kind", str, what), Usage.from_wire(obj, what))


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A user's usage (``GET /v1/usage``): the namespaces they own, summed (``total``), and what
    their quota counts (``used_bytes``: the stored bytes of those namespaces)."""

    quota_bytes: int | None
    used_bytes: int
    #: days deleted files and replaced versions are kept
    retention_days: int
    total: Usage
    namespaces: tuple[NamespaceUsage, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "quota_bytes": self.quota_bytes,
            "used_bytes": self.used_bytes,
            "retention_days": self.retention_days,
            **self.total.to_wire(),
            "namespaces": [n.to_wire() for n in self.namespaces],
        }

    @classmethod
    def from_wire(cls, value: Any) -> UsageReport:
        what = "usage"
        obj = _obj(value, what)
        return cls(
            quota_bytes=_get(obj, "quota_bytes", int, what, optional=True),
            used_bytes=_get(obj, "used_bytes", int, what),
            retention_days=_get(obj, "retention_days", int, what),
            total=Usage.from_wire(obj, what),
            namespaces=tuple(NamespaceUsage.from_wire(n) for n in _get(obj, "namespaces", list, what)),
        )


@dataclass(frozen=True, slots=True)
class TrashEntry:
    """Something in the trash: a file or folder the user deleted (``item``), or one deleted with
    such a folder, inside it."""

    id: int
    item: bool
    kind: str  # file | folder
    path: str
    name: str
    #: when it was deleted (Unix seconds), from which device, by whom (None: not known)
    deleted: float
    device: str | None
    user: str | None
    #: a file's last revision, its number in the file's history, and its size
    rev: int | None = None
    version: int | None = None
    size: int | None = None
    #: an item: the files it holds and the bytes of their last revisions
    files: int | None = None
    bytes: int | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "item": self.item, "kind": self.kind, "path": self.path, "name": self.name,
            "deleted": self.deleted, "device": self.device, "user": self.user,
        }  # fmt: skip
        if self.kind == "file":
            out.update(rev=self.rev, version=self.version, size=self.size)
        if self.item:
            out.update(files=self.files, bytes=self.bytes)
        return out

    @classmethod
    def from_wire(cls, value: Any) -> TrashEntry:
        what = "trash entry"
        obj = _obj(value, what)
        kind = _get(obj, "kind", str, what)
        if kind not in ("file", "folder"):
            raise ProtocolError(f"{what}: unknown kind {kind!r}")
        item = _get(obj, "item", bool, what)
        is_file = kind == "file"
        return cls(
            id=_get(obj, "id", int, what),
            item=item,
            kind=kind,
            path=_get(obj, "path", str, what),
            name=_get(obj, "name", str, what),
            deleted=float(_get(obj, "deleted", (int, float), what)),
            device=_get(obj, "device", str, what, optional=True),
            user=_get(obj, "user", str, what, optional=True),
            rev=_get(obj, "rev", int, what, optional=not is_file),
            version=_get(obj, "version", int, what, optional=not is_file),
            size=_get(obj, "size", int, what, optional=not is_file),
            files=_get(obj, "files", int, what, optional=not item),
            bytes=_get(obj, "bytes", int, what, optional=not item),
        )


@dataclass(frozen=True, slots=True)
class TrashPage:
    """One page of ``GET /v1/trash``: newest first; pass ``cursor`` for the next while ``has_more``."""

    entries: tuple[TrashEntry, ...]
    cursor: str
    has_more: bool

    def to_wire(self) -> dict[str, Any]:
        return {"entries": [e.to_wire() for e in self.entries], "cursor": self.cursor, "has_more": self.has_more}

    @classmethod
    def from_wire(cls, value: Any) -> TrashPage:
        what = "trash listing"
        obj = _obj(value, what)
        return cls(
            entries=tuple(TrashEntry.from_wire(e) for e in _get(obj, "entries", list, what)),
            cursor=_get(obj, "cursor", str, what),
            has_more=_get(obj, "has_more", bool, what),
        )


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What one ``POST /v1/trash/purge`` did: files deleted for good, bytes of blocks freed (the
    quota's figure went down by this), and whether the purge is done (else ask again)."""

    files: int
    freed_bytes: int
    done: bool

    def to_wire(self) -> dict[str, Any]:
        return {"files": self.files, "freed_bytes": self.freed_bytes, "done": self.done}

    @classmethod
    def from_wire(cls, value: Any) -> PurgeResult:
        what = "purge answer"
        obj = _obj(value, what)
        return cls(_get(obj, "files", int, what), _get(obj, "freed_bytes", int, what), _get(obj, "done", bool, what))


#: the shape checks above, for the other wire modules (protocol/sharing.py)
expect_object = _obj
expect_field = _get
