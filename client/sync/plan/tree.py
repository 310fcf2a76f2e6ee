"""The node type shared by the three sync trees (local, remote, synced).

A tree is a mapping from path key (:func:`protocol.paths.path_key`) to
:class:`Node`. Keys decide identity: two entries whose paths differ only in case
are the same entry, and the node's ``path`` is its display path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from protocol import paths

Kind = Literal["file", "folder"]
FILE: Kind = "file"
FOLDER: Kind = "folder"

#: a tree: path key -> node
Tree = Mapping[str, "Node"]


@dataclass(frozen=True, slots=True)
class Node:
    """One entry of a sync tree.

    ``content_hash`` is the Tessera content hash of a file and ``None`` for a
    folder; ``rev`` is the server revision of a file (``None`` for folders and
    for local entries).
    """

    kind: Kind
    path: str
    content_hash: str | None = None
    rev: int | None = None

    def __post_init__(self) -> None:
        if self.kind == FILE:
            if not isinstance(self.content_hash, str):
                raise ValueError(f"file node {self.path!r} needs a content hash")
        elif self.kind == FOLDER:
            if self.content_hash is not None:
                raise ValueError(f"folder node {self.path!r} cannot have a content hash")
        else:
            raise ValueError(f"unknown node kind {self.kind!r}")
        if not self.path.startswith("/") or self.path == paths.ROOT:
            raise ValueError(f"node path must be absolute and not the root: {self.path!r}")

    @property
    def key(self) -> str:
        return paths.path_key(self.path)

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    @property
    def is_folder(self) -> bool:
        return self.kind == FOLDER


def same_content(a: Node | None, b: Node | None) -> bool:
    """True if both are absent, or both present with the same kind and (for files) content.

    Display case and revision are deliberately ignored: they never make an entry
    "changed" in the three-way comparison.
    """
    if a is None or b is None:
        return a is b
    return a.kind == b.kind and a.content_hash == b.content_hash


def key_parent(key: str) -> str:
    """The key of the parent folder (keys are paths, so this is :func:`paths.parent`)."""
    return paths.parent(key)


def key_depth(key: str) -> int:
    """Number of components of a key; the root has depth 0."""
    return 0 if key == paths.ROOT else key.count("/")


def is_under(key: str, folder_key: str) -> bool:
    """True if ``key`` lies strictly below ``folder_key``."""
    if folder_key == paths.ROOT:
        return key != paths.ROOT
    return key.startswith(folder_key + "/")


def build_tree(nodes: Iterable[Node]) -> dict[str, Node]:
    """Index nodes by key."""
    return {n.key: n for n in nodes}


def repath(path: str, src_top: str, dst_top: str) -> str:
    """The display path of ``path`` (at or below ``src_top``) after ``src_top`` moved to ``dst_top``.

    Works by components, not by string length, because two spellings of one
    key can differ in length (``ß`` and ``SS`` casefold alike).
    """
    depth = 0 if src_top == paths.ROOT else src_top.count("/")
    rest = path.split("/")[depth + 1 :]
    return "/".join([dst_top.rstrip("/"), *rest]) if rest else dst_top
