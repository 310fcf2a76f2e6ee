"""The reconciler: a pure planner over the three sync trees.

As in Dropbox's sync engine, the client keeps three trees keyed by path key:
**local** (what is on disk), **remote** (what the change feed says the server
has) and **synced** (the last state both sides agreed on). :func:`plan` compares
them entry by entry and returns the actions that make both sides equal again.
It does no I/O and is deterministic: the same trees always give the same plan.

Three-way rules, per key (``L``, ``R``, ``S`` the local, remote and synced
entry; "changed" compares kind and content, never case or revision):

- nothing changed: nothing to do, except recording a new revision or display
  case in the synced tree;
- only the local side changed: push it (upload, create the remote folder,
  delete remotely); only the remote side changed: pull it (download, create
  the local folder, delete locally);
- both changed to the same thing: only record it as synced;
- a deletion on one side against a change on the other keeps the change: a
  local delete of a file modified remotely downloads it again, a remote delete
  of a file modified locally uploads it again;
- both changed differently (two contents, or a file against a folder): a
  conflict. The remote version stays at the path; the local one is renamed to
  a conflicted copy (:mod:`client.sync.plan.conflict`) and uploaded. A folder that
  the other side replaced by a file is a conflict only if something inside it
  changed on this side; it is then kept whole as the conflicted copy.
- deleting a folder removes only what was synced: if anything below it
  survives (a new or changed entry on the other side), the folder is kept
  (created again on the side that deleted it) with just the survivors.
- in a shared folder the user may not write (a viewer's share, or one that went: ``areas``,
  :mod:`client.sync.plan.shares`) only the server's side counts: the local files holding bytes
  the server does not have are first moved beside the share (a :class:`ConflictRename` out of
  it), then everything there is made to look like the server's side.
- a case-only rename (same key, different display name) is propagated from
  the side that changed the case; when both or neither did, the remote wins.
- a synced file deleted on one side whose content appears as a new file on
  that same side is a move: :class:`MoveRemote` / :class:`MoveLocal` instead
  of a delete and a transfer, so no bytes are sent. (Folder moves are
  expressed as mkdir + file moves + delete.) Empty files are never paired.

Every action carries the paths valid at the moment it runs, given that the
actions run in the order returned. Actions come in :class:`Phase` order; inside
a phase they are independent of each other (they may run concurrently) except
that folder creations and case renames run parents first and folder deletions
children first (the list is already ordered that way).

After an action succeeds the executor records its result in the trees, as each
action's docstring says (this is what makes the plan idempotent: applying it
and planning again gives no actions). The reference implementation of that
contract is the simulator in ``tests/client/sync/plan/test_simulator.py``.

The trees must be consistent (every entry's parent folder is in the same tree);
missing parent folders are implied.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from protocol import paths

from . import rules, shares
from .actions import (
    EMPTY_CONTENT_HASH,
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
    Phase,
    RecordSynced,
    Upload,
    collapse_remote_deletes,
    ordered,
)
from .conflict import conflicted_name
from .shares import Area, Keep, area_of
from .tree import FILE, FOLDER, Node, Tree, is_under, key_depth, key_parent, same_content

__all__ = [
    "Action",
    "ConflictRename",
    "DeleteLocal",
    "DeleteRemote",
    "Download",
    "ForgetSynced",
    "MkdirLocal",
    "MkdirRemote",
    "MoveLocal",
    "MoveRemote",
    "Node",
    "Phase",
    "RecordSynced",
    "Upload",
    "plan",
]

# ---------------------------------------------------------------------------
# planning


def plan(
    local: Tree,
    remote: Tree,
    synced: Tree,
    *,
    device: str,
    today: dt.date,
    areas: Sequence[Area] = (),
) -> list[Action]:
    """The actions that bring ``local`` and ``remote`` back in sync (see the module docstring).

    ``device`` and ``today`` name conflicted copies; ``areas`` are the shared folders where only
    the server's side counts. The trees map path keys to nodes; they are re-indexed by each
    node's own key, so a stale key in the mapping cannot mislead the planner.
    """
    return _Planner(local, remote, synced, device=device, today=today, areas=areas).run()


class _Planner:
    """One planning run; the steps are methods so that each stays small."""

    def __init__(
        self, local: Tree, remote: Tree, synced: Tree, *, device: str, today: dt.date, areas: Sequence[Area]
    ) -> None:
        self.areas = list(areas)
        self.L = rules.index(local)
        self.R = rules.index(remote)
        self.S = rules.index(synced)
        self.device = device
        self.today = today
        #: final display name of keys present on both sides with the same kind
        self.names: dict[str, str] = {}
        #: keys whose display case is renamed, and on which side ("local" / "remote")
        self.case_side: dict[str, str] = {}
        self.set_aside: dict[str, str] = {}  # key -> conflicted-copy path
        self.decisions: dict[str, rules.Decision] = {}
        #: destinations of detected moves (their synced entry arrives with the move)
        self.moved: set[str] = set()
        self._cur: dict[tuple[int, str], str] = {}
        self._final: dict[str, str] = {}

    def run(self) -> list[Action]:
        conflicts = self._find_conflicts()
        taken: set[str] = set(self.L) | set(self.R) | set(self.S)
        kept = shares.keep_outside(
            self.L, self.R, self.S, self.areas, device=self.device, today=self.today, taken=taken
        )
        self._resolve_names([*conflicts, *kept])
        actions: list[Action] = self._set_aside(conflicts, kept, taken)
        self._decide_all()
        actions += self._detect_moves()
        actions += self._render()
        return ordered(collapse_remote_deletes(actions))

    # -- step 1: conflicts ---------------------------------------------------

    def _find_conflicts(self) -> list[str]:
        """Keys where both sides changed differently: the local entry will be set aside."""
        local_kept = rules.changed_ancestors(self.L, self.S)
        remote_kept = rules.changed_ancestors(self.R, self.S)
        out = []
        for key in sorted(self.L.keys() & self.R.keys(), key=_depth_order):
            L, R, S = self.L[key], self.R[key], self.S.get(key)
            if same_content(L, R) or area_of(self.areas, key):  # (an area's local side never wins)
                continue
            if L.is_file and R.is_file:
                conflict = not same_content(L, S) and not same_content(R, S)
            elif L.is_folder:  # remote file against local folder
                conflict = key in local_kept if S is not None and S.is_folder else not same_content(R, S)
            else:  # local file against remote folder
                conflict = key in remote_kept if S is not None and S.is_folder else not same_content(L, S)
            if conflict:
                out.append(key)
        return out

    # -- step 2: display names -------------------------------------------------

    def _resolve_names(self, conflicts: list[str]) -> None:
        """Pick the display name of every entry both sides keep; note case renames."""
        skip = set(conflicts)
        for key in self.L.keys() & self.R.keys():
            L, R = self.L[key], self.R[key]
            if key in skip or L.kind != R.kind:
                continue
            lname, rname = paths.basename(L.path), paths.basename(R.path)
            if lname == rname:
                self.names[key] = rname
                continue
            S = self.S.get(key)
            # in an area the server's name wins (the local entry is renamed)
            local_renamed = S is not None and paths.basename(S.path) == rname and not area_of(self.areas, key)
            self.names[key] = lname if local_renamed else rname
            self.case_side[key] = "remote" if local_renamed else "local"

    def _cur_path(self, tree: dict[str, Node], key: str) -> str:
        """Display path of ``key`` in ``tree`` once the case renames have run."""
        if key == paths.ROOT:
            return paths.ROOT
        memo = (id(tree), key)
        if memo not in self._cur:
            name = self.names.get(key) or paths.basename(tree[key].path)
            self._cur[memo] = paths.join(self._cur_path(tree, key_parent(key)), name)
        return self._cur[memo]

    # -- step 3: set conflicting local entries aside --------------------------

    def _set_aside(self, conflicts: list[str], kept: dict[str, Keep], taken: set[str]) -> list[Action]:
        """Rename each conflicting local entry to a free conflicted-copy name, and move each
        file ``kept`` out of its area.

        The local tree is rewritten as if the rename had happened, so the
        three-way pass sees the copy as a new local entry (to upload) and the
        original key as deleted locally (so the remote version comes down).
        """
        actions: list[Action] = []
        for key in conflicts:
            node = self.L[key]
            old = self._cur_path(self.L, key)
            new = conflicted_name(old, self.device, self.today, folder=node.is_folder, taken=taken)
            taken.add(paths.path_key(new))
            self.set_aside[key] = new
            actions.append(ConflictRename(old, new, node.kind))
        for key, keep in kept.items():
            self.set_aside[key] = keep.new_path
            actions.append(ConflictRename(self._cur_path(self.L, key), keep.new_path, FILE, keep.area.path, keep.area.reason))
            for folder in paths.ancestors(keep.new_path):  # the folders it goes to are new local ones
                self.L.setdefault(paths.path_key(folder), Node(FOLDER, folder))
        for key, new in self.set_aside.items():
            old = self.L[key].path
            moved = [k for k in self.L if k == key or is_under(k, key)]
            for k in moved:
                n = self.L.pop(k)
                rel = n.path.split("/")[old.count("/") + 1 :]
                new_path = "/".join([new, *rel])
                self.L[paths.path_key(new_path)] = Node(n.kind, new_path, n.content_hash)
        self._cur.clear()
        return actions

    # -- step 4: the three-way pass -------------------------------------------

    def _decide_all(self) -> None:
        """Decide every key, deepest first, so a folder knows whether anything below it stays."""
        keys = self.L.keys() | self.R.keys() | self.S.keys()
        keep_folder: set[str] = set()
        for key in sorted(keys, key=_depth_order, reverse=True):
            L, R, S = self.L.get(key), self.R.get(key), self.S.get(key)
            d = rules.obey(L, R, S) if area_of(self.areas, key) else rules.decide(L, R, S, key in keep_folder)
            self.decisions[key] = d
            if d.target is not None:
                keep_folder.add(key_parent(key))

    def _final_path(self, key: str) -> str:
        """Display path of ``key`` once the plan ran (the key must survive)."""
        if key == paths.ROOT:
            return paths.ROOT
        if key not in self._final:
            target = self.decisions[key].target
            assert target is not None, f"{key!r} has no final entry"
            name = self.names.get(key) or paths.basename(target.path)
            self._final[key] = paths.join(self._final_path(key_parent(key)), name)
        return self._final[key]

    # -- step 5: moves ----------------------------------------------------------

    def _detect_moves(self) -> list[Action]:
        """Pair deleted synced files with new files of the same content on the same side."""
        actions: list[Action] = []
        for side in ("local", "remote"):
            src_op, dst_op = (rules.DEL_R, rules.UP) if side == "local" else (rules.DEL_L, rules.DOWN)
            moved_tree = self.L if side == "local" else self.R
            other = self.R if side == "local" else self.L
            srcs: dict[str, list[str]] = defaultdict(list)
            dsts: dict[str, list[str]] = defaultdict(list)
            for key in sorted(self.decisions):
                d = self.decisions[key]
                S = self.S.get(key)
                if d.ops == (src_op,) and key not in moved_tree and S is not None and S.is_file:
                    if same_content(other.get(key), S) and S.content_hash != EMPTY_CONTENT_HASH:
                        srcs[S.content_hash].append(key)  # type: ignore[index]
                elif d.ops == (dst_op,) and S is None and key not in other:
                    h = moved_tree[key].content_hash
                    if h != EMPTY_CONTENT_HASH:
                        dsts[h].append(key)  # type: ignore[index]
            for h in sorted(srcs.keys() & dsts.keys()):
                for src, dst in zip(srcs[h], dsts[h], strict=False):
                    actions += self._move(side, src, dst, h)
        return actions

    def _move(self, side: str, src: str, dst: str, h: str) -> list[Action]:
        S = self.S[src]
        self.decisions[src] = rules.Decision(None, ())
        self.decisions[dst] = rules.Decision(self.decisions[dst].target, ())
        self.moved.add(dst)
        dst_path = self._final_path(dst)
        if side == "local":
            action: Action = MoveRemote(self._cur_path(self.R, src), dst_path, FILE, h)
            final_rev = self.R[src].rev
        else:
            action = MoveLocal(self._cur_path(self.L, src), dst_path, FILE, h)
            final_rev = self.R[dst].rev
        out = [action]
        if S.rev != final_rev:  # the synced entry moves along with its old revision
            out.append(RecordSynced(Node(FILE, dst_path, h, final_rev)))
        return out

    # -- step 6: actions ---------------------------------------------------------

    def _render(self) -> list[Action]:
        actions: list[Action] = []
        for key in sorted(self.case_side):
            side = self.case_side[key]
            tree = self.L if side == "local" else self.R
            node = tree[key]
            src = paths.join(self._cur_path(tree, key_parent(key)), paths.basename(node.path))
            move = MoveLocal if side == "local" else MoveRemote
            actions.append(move(src, self._final_path(key), node.kind, node.content_hash))
        for key in sorted(self.decisions):
            actions += self._render_key(key)
        return actions

    def _render_key(self, key: str) -> list[Action]:
        d = self.decisions[key]
        L, R, S = self.L.get(key), self.R.get(key), self.S.get(key)
        out: list[Action] = []
        for op in d.ops:
            if op == rules.DEL_L:
                assert L is not None
                out.append(DeleteLocal(self._cur_path(self.L, key), L.kind, L.content_hash))
            elif op == rules.DEL_R:
                assert R is not None
                out.append(DeleteRemote(self._cur_path(self.R, key), R.kind))
            elif op == rules.UP:
                assert L is not None and L.content_hash is not None
                parent_rev = R.rev if R is not None and R.is_file else None
                out.append(Upload(self._final_path(key), L.content_hash, parent_rev))
            elif op == rules.DOWN:
                assert R is not None and R.content_hash is not None and R.rev is not None
                replaces = L.content_hash if L is not None and L.is_file else None
                out.append(Download(self._final_path(key), R.content_hash, R.rev, replaces))
            elif op == rules.MKDIR_L:
                out.append(MkdirLocal(self._final_path(key)))
            elif op == rules.MKDIR_R:
                out.append(MkdirRemote(self._final_path(key)))
            elif op == rules.FORGET:
                assert S is not None
                out.append(ForgetSynced(S.path))
        if d.target is not None and not d.ops and key not in self.moved:
            out += self._record_if_stale(key)
        return out

    def _record_if_stale(self, key: str) -> list[Action]:
        """A RecordSynced when both sides agree but synced does not say so yet."""
        R, S = self.R[key], self.S.get(key)
        want = Node(R.kind, self._final_path(key), R.content_hash, R.rev)
        if S is not None:
            now = Node(S.kind, self._synced_path_after_renames(key), S.content_hash, S.rev)
            if now == want:
                return []
        return [RecordSynced(want)]

    def _synced_path_after_renames(self, key: str) -> str:
        """Display path the synced entry of ``key`` has once the case renames moved it along."""
        if key == paths.ROOT:
            return paths.ROOT
        if key in self.case_side:
            return self._final_path(key)
        return paths.join(self._synced_path_after_renames(key_parent(key)), paths.basename(self.S[key].path))


def _depth_order(key: str) -> tuple[int, str]:
    return key_depth(key), key
