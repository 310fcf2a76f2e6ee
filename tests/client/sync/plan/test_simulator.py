"""An in-memory simulator of applying a sync plan, and tests of the simulator itself.

:class:`World` holds the three trees and applies :mod:`client.sync.plan.reconcile`
actions the way the sync daemon must: it checks each action's preconditions
strictly (exact display paths, parents present, slots free, expected contents,
revisions) and records each result in the trees as the action docstrings say.
It is the executable form of the executor contract, used by the reconciler's
unit and property tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from client.sync.plan.reconcile import (
    Action,
    ConflictRename,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetSynced,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    RecordSynced,
    Upload,
)
from client.sync.plan.tree import FILE, FOLDER, Node, is_under, repath
from protocol import paths


class PlanError(AssertionError):
    """An action whose preconditions do not hold in the simulated world."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise PlanError(message)


class World:
    """Local, remote and synced trees (key -> Node) that plans are applied to."""

    def __init__(
        self, local: Mapping[str, Node], remote: Mapping[str, Node], synced: Mapping[str, Node]
    ) -> None:
        self.local = {n.key: n for n in local.values()}
        self.remote = {n.key: n for n in remote.values()}
        self.synced = {n.key: n for n in synced.values()}
        revs = [n.rev for n in [*self.remote.values(), *self.synced.values()] if n.rev is not None]
        self.next_rev = max(revs, default=0) + 1

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def _entry(tree: dict[str, Node], path: str, what: str) -> Node:
        node = tree.get(paths.path_key(path))
        _check(node is not None, f"{what}: {path!r} does not exist")
        assert node is not None
        _check(node.path == path, f"{what}: {path!r} is displayed as {node.path!r}")
        return node

    @staticmethod
    def _free(tree: dict[str, Node], path: str, what: str) -> None:
        _check(
            paths.path_key(path) not in tree, f"{what}: {path!r} is taken by {tree.get(paths.path_key(path))}"
        )

    def _parent_ok(self, tree: dict[str, Node], path: str, what: str) -> None:
        folder = paths.parent(path)
        if folder != paths.ROOT:
            node = self._entry(tree, folder, f"{what} (parent)")
            _check(node.is_folder, f"{what}: parent {folder!r} is not a folder")

    @staticmethod
    def _subtree(tree: dict[str, Node], key: str) -> list[str]:
        return [k for k in tree if k == key or is_under(k, key)]

    def _move(self, tree: dict[str, Node], src: str, dst: str) -> None:
        src_key = paths.path_key(src)
        top = tree[src_key].path
        moved = {k: tree.pop(k) for k in self._subtree(tree, src_key)}
        for node in moved.values():
            new = repath(node.path, top, dst)
            tree[paths.path_key(new)] = Node(node.kind, new, node.content_hash, node.rev)

    def _move_synced(self, src: str, dst: str) -> None:
        src_key = paths.path_key(src)
        if src_key in self.synced:
            self._move(self.synced, self.synced[src_key].path, dst)

    def _remove_subtree(self, tree: dict[str, Node], key: str) -> None:
        for k in self._subtree(tree, key):
            del tree[k]

    # -- actions --------------------------------------------------------------

    def apply_all(self, actions: Iterable[Action]) -> None:
        for action in actions:
            self.apply(action)

    def apply(self, a: Action) -> None:  # noqa: C901 - one branch per action type
        L, R, S = self.local, self.remote, self.synced
        what = repr(a)
        if isinstance(a, Upload):
            node = self._entry(L, a.path, what)
            _check(node.is_file and node.content_hash == a.content_hash, f"{what}: local content differs")
            self._parent_ok(R, a.path, what)
            current = R.get(a.key)
            if a.parent_rev is None:
                _check(current is None, f"{what}: mode add but {current} exists")
                display = paths.join(paths.parent(a.path), paths.basename(a.path))
            else:
                _check(
                    current is not None and current.is_file and current.rev == a.parent_rev,
                    f"{what}: stale rev",
                )
                assert current is not None
                display = current.path
            _check(display == a.path, f"{what}: the server would display {display!r}")
            R[a.key] = S[a.key] = Node(FILE, display, a.content_hash, self.next_rev)
            self.next_rev += 1
        elif isinstance(a, Download):
            node = self._entry(R, a.path, what)
            _check(
                node.is_file and node.content_hash == a.content_hash and node.rev == a.rev,
                f"{what}: remote differs",
            )
            self._parent_ok(L, a.path, what)
            if a.replaces is None:
                self._free(L, a.path, what)
            else:
                old = self._entry(L, a.path, what)
                _check(old.is_file and old.content_hash == a.replaces, f"{what}: local file changed")
            L[a.key] = Node(FILE, a.path, a.content_hash)
            S[a.key] = Node(FILE, a.path, a.content_hash, a.rev)
        elif isinstance(a, MkdirLocal | MkdirRemote):
            tree = L if isinstance(a, MkdirLocal) else R
            self._free(tree, a.path, what)
            self._parent_ok(tree, a.path, what)
            tree[a.key] = S[a.key] = Node(FOLDER, a.path)
        elif isinstance(a, DeleteLocal):
            node = self._entry(L, a.path, what)
            _check(
                node.kind == a.kind and node.content_hash == a.content_hash, f"{what}: local entry changed"
            )
            _check(self._subtree(L, a.key) == [a.key], f"{what}: folder not empty")
            del L[a.key]
            S.pop(a.key, None)
        elif isinstance(a, DeleteRemote):
            node = self._entry(R, a.path, what)
            _check(node.kind == a.kind, f"{what}: remote kind differs")
            self._remove_subtree(R, a.key)
            self._remove_subtree(S, a.key)
        elif isinstance(a, MoveLocal | MoveRemote | ConflictRename):
            tree = R if isinstance(a, MoveRemote) else L
            src, dst = (a.path, a.new_path) if isinstance(a, ConflictRename) else (a.src, a.dst)
            node = self._entry(tree, src, what)
            if isinstance(a, ConflictRename) and a.share:  # kept beside a share: its folders made first
                for folder in paths.ancestors(dst):
                    tree.setdefault(paths.path_key(folder), Node(FOLDER, folder))
            _check(node.kind == a.kind, f"{what}: kind differs")
            if paths.path_key(src) != paths.path_key(dst):
                self._free(tree, dst, what)
                _check(not is_under(paths.path_key(dst), paths.path_key(src)), f"{what}: into itself")
            self._parent_ok(tree, dst, what)
            self._move(tree, src, dst)
            if not isinstance(a, ConflictRename):
                self._move_synced(src, dst)
        elif isinstance(a, RecordSynced):
            S[a.node.key] = a.node
        elif isinstance(a, ForgetSynced):
            _check(a.key in S, f"{what}: nothing to forget")
            del S[a.key]
        else:
            raise PlanError(f"unknown action {a!r}")

    # -- views ----------------------------------------------------------------

    def local_view(self) -> dict[str, tuple[str, str, str | None]]:
        return {k: (n.path, n.kind, n.content_hash) for k, n in self.local.items()}

    def remote_view(self) -> dict[str, tuple[str, str, str | None]]:
        return {k: (n.path, n.kind, n.content_hash) for k, n in self.remote.items()}

    def in_sync(self) -> bool:
        return self.local_view() == self.remote_view() and self.synced == self.remote


def F(path: str, h: str, rev: int | None = None) -> Node:
    return Node(FILE, path, h, rev)


def D(path: str) -> Node:
    return Node(FOLDER, path)


def tree(*nodes: Node) -> dict[str, Node]:
    return {n.key: n for n in nodes}


# -- tests of the simulator ---------------------------------------------------


def test_upload_records_remote_and_synced_with_a_new_rev():
    w = World(tree(D("/a"), F("/a/x", "h1")), tree(D("/a")), tree(D("/a")))
    w.apply(Upload("/a/x", "h1", None))
    assert w.remote["/a/x"] == w.synced["/a/x"] == F("/a/x", "h1", 1)


def test_upload_with_a_stale_parent_rev_is_refused():
    w = World(tree(F("/x", "h2")), tree(F("/x", "h1", 5)), tree(F("/x", "h0", 4)))
    with pytest.raises(PlanError, match="stale rev"):
        w.apply(Upload("/x", "h2", 4))


def test_download_checks_the_file_it_replaces():
    w = World(tree(F("/x", "h9")), tree(F("/x", "h1", 3)), tree())
    with pytest.raises(PlanError, match="local file changed"):
        w.apply(Download("/x", "h1", 3, "h0"))


def test_paths_must_match_the_display_case_exactly():
    w = World(tree(D("/A"), F("/A/x", "h")), tree(), tree())
    with pytest.raises(PlanError, match="displayed as"):
        w.apply(Upload("/a/x", "h", None))


def test_mkdir_needs_the_parent_and_a_free_slot():
    w = World(tree(F("/a", "h")), tree(), tree())
    with pytest.raises(PlanError, match="taken"):
        w.apply(MkdirLocal("/a"))
    with pytest.raises(PlanError, match="does not exist"):
        w.apply(MkdirLocal("/b/c"))


def test_moves_carry_the_subtree_and_the_synced_entries():
    nodes = (D("/A"), D("/A/b"), F("/A/b/x", "h", 2))
    w = World(tree(*nodes), tree(*nodes), tree(*nodes))
    w.apply(MoveLocal("/A", "/a", FOLDER, None))
    assert sorted(n.path for n in w.local.values()) == ["/a", "/a/b", "/a/b/x"]
    assert w.synced["/a/b/x"].path == "/a/b/x"
    w.apply(MoveRemote("/A", "/c", FOLDER, None))
    assert sorted(w.remote) == ["/c", "/c/b", "/c/b/x"] and w.remote["/c/b/x"].rev == 2
    assert "/a" not in w.synced and w.synced["/c/b/x"].path == "/c/b/x"


def test_conflict_rename_moves_only_the_local_tree():
    w = World(tree(F("/x", "h1")), tree(F("/x", "h2", 1)), tree(F("/x", "h0", 0)))
    w.apply(ConflictRename("/x", "/x (c)", FILE))
    assert set(w.local) == {"/x (c)"} and set(w.synced) == {"/x"}


def test_delete_local_folder_must_be_empty_and_remote_delete_takes_the_subtree():
    nodes = (D("/d"), F("/d/x", "h", 1))
    w = World(tree(*nodes), tree(*nodes), tree(*nodes))
    with pytest.raises(PlanError, match="not empty"):
        w.apply(DeleteLocal("/d", FOLDER, None))
    w.apply(DeleteRemote("/d", FOLDER))
    assert w.remote == {} and w.synced == {}
