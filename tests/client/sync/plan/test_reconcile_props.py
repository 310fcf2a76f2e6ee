"""Property tests of the reconciler, in the manner of Dropbox's CanopyCheck.

Random synced trees get random independent edits on both sides (creates,
modifies, deletes, moves, case renames, nested folders); the plan is applied
with the strict in-memory simulator, and then:

(a) local and remote are identical (key -> display path, kind, content) and
    synced agrees with them;
(b) no content is lost: every file content that either side created or changed,
    and every file neither side touched, is still present somewhere;
(c) planning again gives no actions;
(d) planning is deterministic (also under a different dict order).

Plus: when only one side changed, the result is exactly that side's tree, and
entries both sides agree on stay where they are.
"""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client.sync.plan.reconcile import EMPTY_CONTENT_HASH, Action, DeleteLocal, DeleteRemote, plan
from client.sync.plan.tree import FILE, FOLDER, Node, is_under, repath, same_content
from protocol import paths

from .test_simulator import World

DEVICE = "laptop"
TODAY = dt.date(2024, 5, 1)
#: names with case variants of each other, extensions, dotfiles
NAMES = ["a", "A", "b", "B", "c.txt", "C.TXT", "d.tar.gz", ".e"]
CONTENTS = ["h1", "h2", "h3", "h4", EMPTY_CONTENT_HASH]
MAX_DEPTH = 3

PROPS = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def _folders(tree: dict[str, Node]) -> list[str]:
    return [paths.ROOT] + sorted(
        n.path for n in tree.values() if n.is_folder and n.path.count("/") < MAX_DEPTH
    )


def _free_path(data: st.DataObject, tree: dict[str, Node], parents: list[str]) -> str | None:
    parent = data.draw(st.sampled_from(parents))
    path = paths.join(parent, data.draw(st.sampled_from(NAMES)))
    return None if paths.path_key(path) in tree else path


class Side:
    """One side's tree being edited; remote edits get fresh revisions."""

    def __init__(self, tree: dict[str, Node], revs: list[int] | None) -> None:
        self.tree = dict(tree)
        self.revs = revs  # shared counter for the remote side, None locally

    def _rev(self) -> int | None:
        if self.revs is None:
            return None
        self.revs[0] += 1
        return self.revs[0]

    def create(self, data: st.DataObject, at: str | None = None) -> None:
        path = _free_path(data, self.tree, _folders(self.tree))
        if path is None:
            return
        if data.draw(st.booleans()):
            self.tree[paths.path_key(path)] = Node(
                FILE, path, data.draw(st.sampled_from(CONTENTS)), self._rev()
            )
        else:
            self.tree[paths.path_key(path)] = Node(FOLDER, path)

    def _pick(self, data: st.DataObject, kind: str | None = None, at: str | None = None) -> Node | None:
        if at is not None:  # a given key (a "hot spot" both sides edit)
            node = self.tree.get(at)
            return node if node is not None and kind in (None, node.kind) else None
        nodes = sorted((n for n in self.tree.values() if kind is None or n.kind == kind), key=lambda n: n.key)
        return data.draw(st.sampled_from(nodes)) if nodes else None

    def modify(self, data: st.DataObject, at: str | None = None) -> None:
        node = self._pick(data, FILE, at)
        if node is not None:
            h = data.draw(st.sampled_from([c for c in CONTENTS if c != node.content_hash]))
            self.tree[node.key] = Node(FILE, node.path, h, self._rev())

    def delete(self, data: st.DataObject, at: str | None = None) -> None:
        node = self._pick(data, None, at)
        if node is not None:
            for k in [k for k in self.tree if k == node.key or is_under(k, node.key)]:
                del self.tree[k]

    def replace(self, data: st.DataObject, at: str | None = None) -> None:
        """Replace a file by a folder (maybe with a file in it) or a folder by a file."""
        node = self._pick(data, None, at)
        if node is None:
            return
        self.delete(data, node.key)
        if node.is_folder:
            self.tree[node.key] = Node(FILE, node.path, data.draw(st.sampled_from(CONTENTS)), self._rev())
            return
        self.tree[node.key] = Node(FOLDER, node.path)
        if data.draw(st.booleans()):
            child = paths.join(node.path, data.draw(st.sampled_from(NAMES)))
            self.tree[paths.path_key(child)] = Node(
                FILE, child, data.draw(st.sampled_from(CONTENTS)), self._rev()
            )

    def move(self, data: st.DataObject, at: str | None = None) -> None:
        node = self._pick(data, None, at)
        if node is None:
            return
        if data.draw(st.booleans()):  # case-only rename
            name = paths.basename(node.path)
            variants = [n for n in NAMES if n.casefold() == name.casefold() and n != name]
            if not variants:
                return
            dst = paths.join(paths.parent(node.path), variants[0])
        else:
            parents = [p for p in _folders(self.tree) if not paths.is_within(p, node.path)]
            dst = _free_path(data, self.tree, parents)
            if dst is None:
                return
        moved = {
            k: self.tree.pop(k) for k in [k for k in self.tree if k == node.key or is_under(k, node.key)]
        }
        for n in moved.values():
            new = repath(n.path, node.path, dst)
            self.tree[paths.path_key(new)] = Node(n.kind, new, n.content_hash, n.rev)

    def edit(self, data: st.DataObject, count: int, at: str | None = None) -> None:
        ops = [self.modify, self.delete, self.replace, self.move]
        if at is None:
            ops += [self.create, self.create]
        for _ in range(count):
            op = data.draw(st.sampled_from(ops))
            op(data, at)


def _base_tree(data: st.DataObject) -> dict[str, Node]:
    side = Side({}, [0])
    for _ in range(data.draw(st.integers(0, 8))):
        side.create(data)
    return side.tree


def _strip_revs(tree: dict[str, Node]) -> dict[str, Node]:
    return {k: Node(n.kind, n.path, n.content_hash) for k, n in tree.items()}


def _contents(tree: dict[str, Node]) -> set[str]:
    return {n.content_hash for n in tree.values() if n.is_file}  # type: ignore[misc]


def _view(tree: dict[str, Node]) -> dict[str, tuple[str, str, str | None]]:
    return {k: (n.path, n.kind, n.content_hash) for k, n in tree.items()}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Node], dict[str, Node], dict[str, Node]]:
    data = draw(st.data())
    synced = _base_tree(data)
    revs = [max((n.rev or 0 for n in synced.values()), default=0)]
    local = Side(_strip_revs(synced), None)
    remote = Side(synced, revs)
    if synced:  # hot spots: both sides edit the same synced entries
        for key in data.draw(st.lists(st.sampled_from(sorted(synced)), max_size=2, unique=True)):
            local.edit(data, 1, at=key)
            remote.edit(data, 1, at=key)
    local.edit(data, data.draw(st.integers(0, 4), label="local edits"))
    remote.edit(data, data.draw(st.integers(0, 4), label="remote edits"))
    return local.tree, remote.tree, synced


def _required_contents(local: dict[str, Node], remote: dict[str, Node], synced: dict[str, Node]) -> set[str]:
    """Contents that must survive: every edit of either side, and everything untouched on both."""
    out: set[str] = set()
    for side in (local, remote):
        out |= {n.content_hash for k, n in side.items() if n.is_file and not same_content(n, synced.get(k))}  # type: ignore[misc]
    for k, n in synced.items():
        if n.is_file and same_content(local.get(k), n) and same_content(remote.get(k), n):
            out.add(n.content_hash)  # type: ignore[arg-type]
    return out


def _assert_deletes_only_synced(actions: list[Action], local, remote, synced) -> None:
    """A deletion never removes anything that is not exactly what was last synced."""
    for a in actions:
        if isinstance(a, DeleteLocal | DeleteRemote):
            side = local if isinstance(a, DeleteLocal) else remote
            for k in [k for k in side if k == a.key or is_under(k, a.key)]:
                assert same_content(side[k], synced.get(k)), f"{a} removes unsynced {side[k]}"


@PROPS
@given(scenarios())
def test_plans_converge_lose_nothing_and_are_idempotent(scenario):
    local, remote, synced = scenario
    actions = plan(local, remote, synced, device=DEVICE, today=TODAY)

    # (d) deterministic, whatever the dict order
    shuffled = [dict(random.Random(seed).sample(list(t.items()), len(t))) for seed, t in enumerate(scenario)]
    assert plan(*shuffled, device=DEVICE, today=TODAY) == actions
    assert [a.phase for a in actions] == sorted(a.phase for a in actions)

    _assert_deletes_only_synced(actions, local, remote, synced)
    world = World(local, remote, synced)
    world.apply_all(actions)

    # (a) both sides identical, synced agrees
    assert world.local_view() == world.remote_view()
    assert world.synced == world.remote
    # (b) nothing lost
    assert _required_contents(local, remote, synced) <= _contents(world.local)
    # (c) idempotent
    assert plan(world.local, world.remote, world.synced, device=DEVICE, today=TODAY) == []

    # entries both sides agree on (content and kind) stay at their key
    for k, n in local.items():
        if same_content(n, remote.get(k)):
            assert same_content(world.local.get(k), n)


@PROPS
@given(st.data())
def test_one_sided_changes_give_exactly_that_side(data):
    synced = _base_tree(data)
    revs = [max((n.rev or 0 for n in synced.values()), default=0)]
    local_side = data.draw(st.booleans(), label="local side edits")
    side = Side(_strip_revs(synced) if local_side else synced, None if local_side else revs)
    side.edit(data, data.draw(st.integers(0, 5)))
    local, remote = (side.tree, synced) if local_side else (_strip_revs(synced), side.tree)

    world = World(local, remote, synced)
    world.apply_all(plan(local, remote, synced, device=DEVICE, today=TODAY))
    assert world.local_view() == _view(side.tree)
    assert world.remote_view() == _view(side.tree)
    assert plan(world.local, world.remote, world.synced, device=DEVICE, today=TODAY) == []


@PROPS
@given(st.data())
def test_a_fresh_device_adopts_the_remote_tree_and_an_empty_server_gets_the_local_one(data):
    tree = _base_tree(data)
    for local, remote in ((_strip_revs(tree), {}), ({}, tree)):
        world = World(local, remote, {})
        world.apply_all(plan(local, remote, {}, device=DEVICE, today=TODAY))
        assert world.local_view() == world.remote_view() == _view(tree)
        assert world.synced == world.remote
