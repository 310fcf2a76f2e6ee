"""The three-way rules of the reconciler, for one key at a time (pure).

:func:`decide` takes a key's local, remote and synced entries (``L``, ``R``, ``S``) once
conflicts were set aside, and gives the entry both sides end with and the symbolic operations
that get them there (:data:`UP`, :data:`DOWN`, ...); :mod:`client.sync.plan.reconcile` renders
those into actions once every path is known. The rules are listed in its module docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from protocol import paths

from .tree import FOLDER, Node, Tree, key_parent, same_content


def index(tree: Tree) -> dict[str, Node]:
    """Key the nodes by their own path key, adding implied parent folders."""
    out: dict[str, Node] = {}
    for node in tree.values():
        out[node.key] = node
    for node in list(out.values()):
        for folder in paths.ancestors(node.path):
            out.setdefault(paths.path_key(folder), Node(FOLDER, folder))
    return out


def changed_ancestors(side: Mapping[str, Node], synced: Mapping[str, Node]) -> set[str]:
    """Keys of the folders that have, somewhere below them, an entry new or changed on ``side``."""
    out: set[str] = set()
    for key, node in side.items():
        if not same_content(node, synced.get(key)):
            k = key_parent(key)
            while k != paths.ROOT and k not in out:
                out.add(k)
                k = key_parent(k)
    return out


#: symbolic per-key operations, rendered into actions once all paths are known
DEL_L, DEL_R, UP, DOWN, MKDIR_L, MKDIR_R, FORGET = (
    "delete_local",
    "delete_remote",
    "upload",
    "download",
    "mkdir_local",
    "mkdir_remote",
    "forget",
)


@dataclass(frozen=True, slots=True)
class Decision:
    target: Node | None  # the entry both sides end with (None: none)
    ops: tuple[str, ...]


def decide(L: Node | None, R: Node | None, S: Node | None, survivors: bool) -> Decision:
    """The three-way decision for one key, once conflicts were set aside."""
    if same_content(L, R):
        if L is None:
            return Decision(None, (FORGET,) if S is not None else ())
        return Decision(R, ())
    if same_content(R, S):  # only the local side changed
        return push(L, R, survivors)
    if same_content(L, S):  # only the remote side changed
        return pull(R, L, survivors)
    # both changed, differently: a deletion loses against a change
    if L is None:
        return pull(R, L, survivors)
    if R is None:
        return push(L, R, survivors)
    raise AssertionError(f"unresolved conflict at {L.path!r}")  # set aside before deciding


def push(L: Node | None, R: Node | None, survivors: bool) -> Decision:
    """Make the remote side look like the local side."""
    if L is None:
        assert R is not None
        if R.is_folder and survivors:  # deleted locally, but something inside must stay
            return Decision(R, (MKDIR_L,))
        return Decision(None, (DEL_R,))
    ops = [DEL_R] if R is not None and R.kind != L.kind else []
    ops.append(UP if L.is_file else MKDIR_R)
    return Decision(L, tuple(ops))


def pull(R: Node | None, L: Node | None, survivors: bool) -> Decision:
    """Make the local side look like the remote side."""
    if R is None:
        assert L is not None
        if L.is_folder and survivors:  # deleted remotely, but something inside must stay
            return Decision(L, (MKDIR_R,))
        return Decision(None, (DEL_L,))
    ops = [DEL_L] if L is not None and L.kind != R.kind else []
    ops.append(DOWN if R.is_file else MKDIR_L)
    return Decision(R, tuple(ops))


def obey(L: Node | None, R: Node | None, S: Node | None) -> Decision:
    """The decision for a key where only the server's side counts (a shared folder the user may
    not write, or one that went: :mod:`client.sync.plan.shares`); what the local side holds of
    the user's own bytes was kept elsewhere before."""
    if same_content(L, R):
        if L is None:
            return Decision(None, (FORGET,) if S is not None else ())
        return Decision(R, ())
    return pull(R, L, False)
