"""Typed views of the metadata server's answers (docs/api.md).

Each ``from_wire`` checks the shape it needs and raises
:class:`~protocol.errors.ProtocolError` when the server sent something else, so
the rest of the client can trust the fields. ``to_json`` gives the plain dict
the CLI prints with ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from protocol.errors import ProtocolError, TesseraError, error_from_wire

from . import wire

#: "pending" only comes in the change feed: an upload to that path has started (not committed)
Kind = Literal["file", "folder", "deleted", "pending"]
_KINDS = ("file", "folder", "deleted", "pending")


@dataclass(frozen=True, slots=True)
class Metadata:
    """A file, a folder, a deletion marker or (in the change feed) a pending upload."""

    kind: Kind
    path: str
    name: str
    rev: int | None = None
    size: int | None = None
    content_hash: str | None = None
    modified: float | None = None
    device: str | None = None
    #: the file's modification time on the device that uploaded it (None: that device did not say)
    client_modified: float | None = None

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def is_folder(self) -> bool:
        return self.kind == "folder"

    @classmethod
    def from_wire(cls, value: Any) -> Metadata:
        what = "metadata"
        obj = wire.obj(value, what)
        kind = obj.get("kind")
        if kind not in _KINDS:
            raise ProtocolError(f"{what}: unknown kind {kind!r}")
        path = wire.path(obj, "path", what)
        name = wire.get(obj, "name", str, what)
        if kind != "file":
            return cls(kind, path, name)
        return cls(
            kind,
            path,
            name,
            rev=wire.get(obj, "rev", int, what),
            size=wire.get(obj, "size", int, what),
            content_hash=wire.get(obj, "content_hash", str, what),
            modified=wire.optional_float(obj, "modified", what),
            device=wire.get(obj, "device", str, what, optional=True),
            client_modified=wire.optional_float(obj, "client_modified", what),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "path": self.path, "name": self.name}
        if self.kind == "file":
            out.update(
                rev=self.rev,
                size=self.size,
                content_hash=self.content_hash,
                modified=self.modified,
                device=self.device,
                client_modified=self.client_modified,
            )
        return out


@dataclass(frozen=True, slots=True)
class Login:
    token: str
    user: str
    device: str

    @classmethod
    def from_wire(cls, value: Any) -> Login:
        obj = wire.obj(value, "login")
        return cls(
            wire.get(obj, "token", str, "login"),
            wire.get(obj, "user", str, "login"),
            wire.get(obj, "device", str, "login"),
        )


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    user_id: int
    device: str
    quota_bytes: int | None
    used_bytes: int

    @classmethod
    def from_wire(cls, value: Any) -> Account:
        what = "account"
        obj = wire.obj(value, what)
        return cls(
            user=wire.get(obj, "user", str, what),
            user_id=wire.get(obj, "user_id", int, what),
            device=wire.get(obj, "device", str, what),
            quota_bytes=wire.get(obj, "quota_bytes", int, what, optional=True),
            used_bytes=wire.get(obj, "used_bytes", int, what),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "user_id": self.user_id,
            "device": self.device,
            "quota_bytes": self.quota_bytes,
            "used_bytes": self.used_bytes,
        }


@dataclass(frozen=True, slots=True)
class Revisions:
    """The revisions a path has had, newest first (``GET /v1/files/revisions``)."""

    path: str
    #: the path holds no file now (it was deleted): every revision can still be restored
    deleted: bool
    #: the current revision (None when deleted)
    rev: int | None
    revisions: list[Metadata]

    @classmethod
    def from_wire(cls, value: Any) -> Revisions:
        what = "revisions"
        obj = wire.obj(value, what)
        return cls(
            path=wire.get(obj, "path", str, what),
            deleted=wire.get(obj, "deleted", bool, what),
            rev=wire.get(obj, "rev", int, what, optional=True),
            revisions=[Metadata.from_wire(e) for e in wire.get_list(obj, "revisions", what)],
        )

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "deleted": self.deleted, "rev": self.rev,
                "revisions": [r.to_json() for r in self.revisions]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ListPage:
    entries: list[Metadata]
    cursor: str | None
    has_more: bool

    @classmethod
    def from_wire(cls, value: Any) -> ListPage:
        what = "folder listing"
        obj = wire.obj(value, what)
        return cls(
            entries=[Metadata.from_wire(e) for e in wire.get_list(obj, "entries", what)],
            cursor=wire.get(obj, "cursor", str, what, optional=True),
            has_more=wire.get(obj, "has_more", bool, what),
        )


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """One page of the change feed (``GET /v1/changes``)."""

    entries: list[Metadata]
    #: where the next page starts; save it once the page's entries are applied
    cursor: str
    has_more: bool
    #: the page starts a full listing: forget what is known of the remote tree first
    reset: bool

    @classmethod
    def from_wire(cls, value: Any) -> ChangesPage:
        what = "change feed page"
        obj = wire.obj(value, what)
        return cls(
            entries=[Metadata.from_wire(e) for e in wire.get_list(obj, "entries", what)],
            cursor=wire.get(obj, "cursor", str, what),
            has_more=wire.get(obj, "has_more", bool, what),
            reset=wire.get(obj, "reset", bool, what),
        )


class LongPoll(NamedTuple):
    """The answer of a long-poll: did anything change, and how long to wait before the next."""

    changes: bool
    #: seconds to wait before polling again (server overloaded or shutting down)
    backoff: float | None = None

    @classmethod
    def from_wire(cls, value: Any) -> LongPoll:
        what = "long-poll answer"
        obj = wire.obj(value, what)
        backoff = wire.get(obj, "backoff", (int, float), what, optional=True)
        if backoff is not None and backoff < 0:
            raise ProtocolError(f"{what}: negative backoff")
        return cls(wire.get(obj, "changes", bool, what), float(backoff) if backoff is not None else None)


@dataclass(frozen=True, slots=True)
class UploadBlock:
    index: int
    block_id: str
    state: Literal["stored", "needed"]
    #: the put grant; on only one of the blocks that share an id
    grant: str | None = None

    @classmethod
    def from_wire(cls, value: Any) -> UploadBlock:
        what = "upload block"
        obj = wire.obj(value, what)
        state = obj.get("state")
        if state not in ("stored", "needed"):
            raise ProtocolError(f"{what}: unknown state {state!r}")
        return cls(
            index=wire.get(obj, "index", int, what),
            block_id=wire.get(obj, "block_id", str, what),
            state=state,
            grant=wire.get(obj, "grant", str, what, optional=True),
        )


@dataclass(frozen=True, slots=True)
class UploadSession:
    """An upload session, or the answer to one part of its block list (``blocks`` are then the part's)."""

    upload_id: str
    path: str
    size: int
    #: "" while the block list is still open
    content_hash: str
    expires_at: float
    block_servers: list[str]
    blocks: list[UploadBlock]
    needed: int
    #: blocks listed so far (all of them once the list is complete)
    blocks_listed: int = 0
    blocks_complete: bool = True

    @classmethod
    def from_wire(cls, value: Any) -> UploadSession:
        what = "upload session"
        obj = wire.obj(value, what)
        servers = wire.get_list(obj, "block_servers", what)
        if not all(isinstance(s, str) for s in servers):
            raise ProtocolError(f"{what}: block_servers must be URLs")
        blocks = [UploadBlock.from_wire(b) for b in wire.get_list(obj, "blocks", what)]
        complete = wire.get(obj, "blocks_complete", bool, what, optional=True)
        complete = True if complete is None else complete
        content_hash = wire.get(obj, "content_hash", str, what, optional=not complete)
        listed = wire.get(obj, "blocks_listed", int, what, optional=True)
        return cls(
            upload_id=wire.get(obj, "upload_id", str, what),
            path=wire.get(obj, "path", str, what),
            size=wire.get(obj, "size", int, what),
            content_hash=content_hash or "",
            expires_at=float(wire.get(obj, "expires_at", (int, float), what)),
            block_servers=servers,
            blocks=blocks,
            needed=wire.get(obj, "needed", int, what),
            blocks_listed=len(blocks) if listed is None else listed,
            blocks_complete=complete,
        )


@dataclass(frozen=True, slots=True)
class RemoteBlock:
    """One block of a stored file version, with a get grant."""

    index: int
    block_id: str
    size: int
    md5: str
    sha256: str
    grant: str

    @classmethod
    def from_wire(cls, value: Any) -> RemoteBlock:
        what = "file block"
        obj = wire.obj(value, what)
        return cls(
            index=wire.get(obj, "index", int, what),
            block_id=wire.get(obj, "block_id", str, what),
            size=wire.get(obj, "size", int, what),
            md5=wire.get(obj, "md5", str, what).lower(),
            sha256=wire.get(obj, "sha256", str, what).lower(),
            grant=wire.get(obj, "grant", str, what),
        )


@dataclass(frozen=True, slots=True)
class BlockPage:
    """One page of a file version's block list."""

    rev: int
    path: str
    size: int
    content_hash: str
    block_servers: list[str]
    total: int
    start: int
    blocks: list[RemoteBlock]
    #: when this revision was committed (server clock, Unix seconds); None from an older server
    modified: float | None = None
    #: the file's modification time on the device that uploaded it; None if it did not say
    client_modified: float | None = None

    @property
    def file_time(self) -> float | None:
        """The modification time a download gives the file: the uploader's own, else the commit time."""
        return self.client_modified if self.client_modified is not None else self.modified

    @classmethod
    def from_wire(cls, value: Any) -> BlockPage:
        what = "block list"
        obj = wire.obj(value, what)
        servers = wire.get_list(obj, "block_servers", what)
        if not all(isinstance(s, str) for s in servers):
            raise ProtocolError(f"{what}: block_servers must be URLs")
        return cls(
            rev=wire.get(obj, "rev", int, what),
            path=wire.get(obj, "path", str, what),
            size=wire.get(obj, "size", int, what),
            content_hash=wire.get(obj, "content_hash", str, what).lower(),
            block_servers=servers,
            total=wire.get(obj, "total", int, what),
            start=wire.get(obj, "start", int, what),
            blocks=[RemoteBlock.from_wire(b) for b in wire.get_list(obj, "blocks", what)],
            modified=wire.optional_float(obj, "modified", what),
            client_modified=wire.optional_float(obj, "client_modified", what),
        )

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
                out.append(cls.from_wire({**r, "block_servers": servers} if isinstance(r, dict) else r))
        return out
