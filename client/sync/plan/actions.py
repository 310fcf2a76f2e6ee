"""The actions the reconciler (:mod:`client.sync.plan.reconcile`) plans, their phases, and the
order a plan lists them in.

Each action is a frozen value naming what to do and the paths valid when it
runs; its docstring says what the executor records in the trees after it
succeeds. Actions run in :class:`Phase` order (:func:`ordered`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from protocol import paths
from protocol.hashing import content_hash

from .tree import FILE, FOLDER, Kind, Node, key_depth, key_parent

#: content hash of the empty file: empty files are never paired as moves
EMPTY_CONTENT_HASH = content_hash([])


class Phase(enum.IntEnum):
    """The order actions run in; see the module docstring."""

    CASE_RENAME = 0  #: case-only renames, parents first
    SET_ASIDE = 1  #: local entries renamed to their conflicted-copy names
    DELETE_FILES = 2  #: file deletions on either side
    MKDIR = 3  #: folder creations on either side, parents first
    MOVE = 4  #: detected file moves on either side
    DELETE_FOLDERS = 5  #: folder deletions on either side, children first
    TRANSFER = 6  #: uploads, downloads and synced-tree bookkeeping


class Action:
    """Base of every planned action; ``path`` is the entry the action is about."""

    __slots__ = ()
    path: str

    @property
    def key(self) -> str:
        return paths.path_key(self.path)

    @property
    def phase(self) -> Phase:
        raise NotImplementedError


class _FixedPhase(Action):
    __slots__ = ()
    PHASE: ClassVar[Phase]

    @property
    def phase(self) -> Phase:
        return self.PHASE


@dataclass(frozen=True, slots=True)
class Upload(_FixedPhase):
    """Upload the local file at ``path`` (content ``content_hash``).

    ``parent_rev`` is the remote revision the local edit replaces (commit with
    mode ``update``); ``None`` means no remote file should be there (mode
    ``add``). After success: remote and synced get the committed file.
    """

    PHASE: ClassVar[Phase] = Phase.TRANSFER
    path: str
    content_hash: str
    parent_rev: int | None


@dataclass(frozen=True, slots=True)
class Download(_FixedPhase):
    """Download remote revision ``rev`` to ``path``.

    ``replaces`` is the content hash of the local file it overwrites (``None``:
    nothing should be there); the executor checks it right before the rename
    and leaves a changed local file alone. After success: local and synced get
    the file.
    """

    PHASE: ClassVar[Phase] = Phase.TRANSFER
    path: str
    content_hash: str
    rev: int
    replaces: str | None


@dataclass(frozen=True, slots=True)
class MkdirLocal(_FixedPhase):
    """Create the local folder ``path``. After success: local and synced get the folder."""

    PHASE: ClassVar[Phase] = Phase.MKDIR
    path: str


@dataclass(frozen=True, slots=True)
class MkdirRemote(_FixedPhase):
    """Create the remote folder ``path``. After success: remote and synced get the folder."""

    PHASE: ClassVar[Phase] = Phase.MKDIR
    path: str


@dataclass(frozen=True, slots=True)
class DeleteLocal(Action):
    """Delete the local entry at ``path``.

    A file is removed only if its content is still ``content_hash``; a folder
    only if it is empty (its children are deleted before it, and a file that
    appeared meanwhile keeps it). After success: the entry leaves local and
    synced.
    """

    path: str
    kind: Kind
    content_hash: str | None

    @property
    def phase(self) -> Phase:
        return Phase.DELETE_FILES if self.kind == FILE else Phase.DELETE_FOLDERS


@dataclass(frozen=True, slots=True)
class DeleteRemote(Action):
    """Delete the remote entry at ``path``; a folder goes with everything in it.

    The server keeps deleted versions, so a folder is deleted with one call
    (the plan never deletes a remote folder that holds anything to keep).
    After success: the entry and its subtree leave remote and synced.
    """

    path: str
    kind: Kind

    @property
    def phase(self) -> Phase:
        return Phase.DELETE_FILES if self.kind == FILE else Phase.DELETE_FOLDERS


@dataclass(frozen=True, slots=True)
class _Move(Action):
    """A move of ``src`` (with everything in it) to ``dst``: a case-only rename runs first."""

    src: str
    dst: str
    kind: Kind
    content_hash: str | None

    @property
    def path(self) -> str:  # type: ignore[override]
        return self.dst

    @property
    def phase(self) -> Phase:
        return Phase.CASE_RENAME if paths.path_key(self.src) == paths.path_key(self.dst) else Phase.MOVE


@dataclass(frozen=True, slots=True)
class MoveLocal(_Move):
    """Move the local entry ``src`` (with everything in it) to ``dst``.

    Either a case-only rename (``src`` and ``dst`` have one key) or a file
    moved on the server. After success: the subtree moves in local *and* in
    synced (keys and display paths).
    """


@dataclass(frozen=True, slots=True)
class MoveRemote(_Move):
    """Move the remote entry ``src`` (with everything in it) to ``dst``.

    Either a case-only rename or a file moved locally (the server keeps its
    revision, so no bytes are sent). After success: the subtree moves in remote
    *and* in synced.
    """


@dataclass(frozen=True, slots=True)
class ConflictRename(_FixedPhase):
    """Rename the local entry ``path`` (with everything in it) to its conflicted-copy name.

    This frees ``path`` for the remote version; the copy at ``new_path`` is
    uploaded by later actions. After success: the subtree moves in local only
    (synced is untouched: it still describes what was agreed at ``path``).

    ``share`` is set when a local file of a shared folder the user may not write (``reason``:
    :data:`~client.sync.plan.shares.READ_ONLY`, or :data:`~client.sync.plan.shares.REMOVED`) is
    kept beside that folder (:mod:`client.sync.plan.shares`): ``new_path`` is outside it, its
    folders made first.
    """

    PHASE: ClassVar[Phase] = Phase.SET_ASIDE
    path: str
    new_path: str
    kind: Kind
    share: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecordSynced(_FixedPhase):
    """Both sides already agree on ``node``: store it in synced (no I/O)."""

    PHASE: ClassVar[Phase] = Phase.TRANSFER
    node: Node

    @property
    def path(self) -> str:  # type: ignore[override]
        return self.node.path


@dataclass(frozen=True, slots=True)
class ForgetSynced(_FixedPhase):
    """The entry is gone on both sides: remove it from synced (no I/O)."""

    PHASE: ClassVar[Phase] = Phase.TRANSFER
    path: str


def collapse_remote_deletes(actions: Iterable[Action]) -> list[Action]:
    """Drop remote deletions (and synced bookkeeping) already covered by deleting a remote folder."""
    actions = list(actions)
    folders = {a.key for a in actions if isinstance(a, DeleteRemote) and a.kind == FOLDER}

    def covered(key: str) -> bool:
        k = key_parent(key)
        while k != paths.ROOT:
            if k in folders:
                return True
            k = key_parent(k)
        return False

    return [a for a in actions if not (isinstance(a, DeleteRemote | ForgetSynced) and covered(a.key))]


def _sort_key(action: Action) -> tuple[int, int, str, str]:
    phase = action.phase
    depth = key_depth(action.key)
    if phase in (Phase.CASE_RENAME, Phase.MKDIR):
        order = depth
    elif phase == Phase.DELETE_FOLDERS:
        order = -depth
    else:
        order = 0
    return phase, order, action.key, type(action).__name__


def ordered(actions: list[Action]) -> list[Action]:
    return sorted(actions, key=_sort_key)
