"""Unit tests of the reconciler: one test per rule of the three-way plan.

Every scenario is also applied with the strict simulator and re-planned, so
each test checks convergence and idempotency besides the expected actions.
"""

from __future__ import annotations

import datetime as dt

import pytest

from client.sync.plan.reconcile import (
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
    plan,
)
from client.sync.plan.tree import FILE, FOLDER, Node

from .test_simulator import D, F, World, tree

TODAY = dt.date(2024, 5, 1)
CC = " (conflicted copy from laptop 2024-05-01)"


def local_of(*nodes: Node) -> dict[str, Node]:
    """A local tree: the same nodes without revisions."""
    return tree(*(Node(n.kind, n.path, n.content_hash) for n in nodes))


def settle(local: dict, remote: dict, synced: dict) -> tuple[list[Action], World]:
    """Plan, apply with the simulator, and check convergence and idempotency."""
    actions = plan(local, remote, synced, device="laptop", today=TODAY)
    world = World(local, remote, synced)
    world.apply_all(actions)
    assert world.local_view() == world.remote_view()
    assert world.synced == world.remote
    assert plan(world.local, world.remote, world.synced, device="laptop", today=TODAY) == []
    return actions, world


# -- nothing to do -------------------------------------------------------------


def test_identical_trees_need_nothing():
    nodes = (D("/a"), F("/a/x", "h1", 1))
    assert settle(local_of(*nodes), tree(*nodes), tree(*nodes))[0] == []


def test_empty_trees_need_nothing():
    assert plan({}, {}, {}, device="laptop", today=TODAY) == []


# -- one side changed ------------------------------------------------------------


def test_new_local_file_in_new_folders_is_uploaded_after_its_parents():
    actions, _ = settle(local_of(D("/a"), D("/a/b"), F("/a/b/x", "h1")), {}, {})
    assert actions == [MkdirRemote("/a"), MkdirRemote("/a/b"), Upload("/a/b/x", "h1", None)]


def test_modified_local_file_is_uploaded_against_the_remote_rev():
    actions, _ = settle(local_of(F("/x", "h2")), tree(F("/x", "h1", 7)), tree(F("/x", "h1", 7)))
    assert actions == [Upload("/x", "h2", 7)]


def test_local_delete_is_propagated():
    s = tree(D("/d"), F("/d/x", "h1", 1), F("/y", "h2", 2))
    actions, _ = settle(local_of(D("/d")), s, s)
    assert actions == [DeleteRemote("/d/x", FILE), DeleteRemote("/y", FILE)]


def test_local_folder_delete_is_one_remote_call():
    s = tree(D("/d"), D("/d/e"), F("/d/e/x", "h1", 1), F("/d/y", "h2", 2))
    actions, _ = settle({}, s, s)
    assert actions == [DeleteRemote("/d", FOLDER)]


def test_new_remote_entries_are_downloaded_after_their_parents():
    r = tree(D("/a"), F("/a/x", "h1", 3), D("/b"))
    actions, _ = settle({}, r, {})
    assert actions == [MkdirLocal("/a"), MkdirLocal("/b"), Download("/a/x", "h1", 3, None)]


def test_modified_remote_file_replaces_the_checked_local_one():
    actions, _ = settle(local_of(F("/x", "h1")), tree(F("/x", "h2", 9)), tree(F("/x", "h1", 4)))
    assert actions == [Download("/x", "h2", 9, replaces="h1")]


def test_remote_delete_removes_local_children_before_the_folder():
    s = tree(D("/d"), D("/d/e"), F("/d/e/x", "h1", 1))
    actions, _ = settle(local_of(*s.values()), {}, s)
    assert actions == [
        DeleteLocal("/d/e/x", FILE, "h1"),
        DeleteLocal("/d/e", FOLDER, None),
        DeleteLocal("/d", FOLDER, None),
    ]


def test_local_file_replaced_by_a_folder_deletes_then_creates_remotely():
    actions, _ = settle(local_of(D("/x"), F("/x/y", "h2")), tree(F("/x", "h1", 1)), tree(F("/x", "h1", 1)))
    assert actions == [DeleteRemote("/x", FILE), MkdirRemote("/x"), Upload("/x/y", "h2", None)]


def test_remote_folder_replaced_by_a_file_deletes_the_local_folder_first():
    s = tree(D("/x"), F("/x/y", "h1", 1))
    actions, _ = settle(local_of(*s.values()), tree(F("/x", "h2", 5)), s)
    assert actions == [
        DeleteLocal("/x/y", FILE, "h1"),
        DeleteLocal("/x", FOLDER, None),
        Download("/x", "h2", 5, None),
    ]


# -- both changed ----------------------------------------------------------------


def test_same_change_on_both_sides_is_only_recorded():
    actions, _ = settle(local_of(F("/x", "h2")), tree(F("/x", "h2", 8)), tree(F("/x", "h1", 3)))
    assert actions == [RecordSynced(F("/x", "h2", 8))]


def test_both_deleted_is_only_forgotten():
    actions, _ = settle({}, {}, tree(F("/x", "h1", 3)))
    assert actions == [ForgetSynced("/x")]


def test_new_remote_rev_with_the_same_content_is_recorded():
    actions, _ = settle(local_of(F("/x", "h1")), tree(F("/x", "h1", 4)), tree(F("/x", "h1", 3)))
    assert actions == [RecordSynced(F("/x", "h1", 4))]


def test_concurrent_edits_keep_both_remote_at_the_path_local_as_a_copy():
    actions, world = settle(
        local_of(F("/r.txt", "hL")), tree(F("/r.txt", "hR", 6)), tree(F("/r.txt", "h0", 5))
    )
    copy = f"/r{CC}.txt"
    assert actions == [
        ConflictRename("/r.txt", copy, FILE),
        Upload(copy, "hL", None),
        Download("/r.txt", "hR", 6, None),
    ]
    assert {n.content_hash for n in world.local.values()} == {"hL", "hR"}


def test_both_created_the_same_name_is_a_conflict_too():
    actions, _ = settle(local_of(F("/a.tar.gz", "hL")), tree(F("/a.tar.gz", "hR", 1)), {})
    assert ConflictRename("/a.tar.gz", f"/a.tar{CC}.gz", FILE) in actions


def test_conflicted_copy_names_skip_taken_ones():
    taken = F(f"/r{CC}.txt", "hX", 2)
    local = local_of(F("/r.txt", "hL"), taken)
    remote = tree(F("/r.txt", "hR", 6), taken)
    actions, world = settle(local, remote, tree(F("/r.txt", "h0", 5), taken))
    copy = "/r (conflicted copy from laptop 2024-05-01 1).txt"
    assert ConflictRename("/r.txt", copy, FILE) in actions
    assert world.remote[copy.casefold()].content_hash == "hL"


def test_local_delete_of_a_remotely_modified_file_restores_it():
    actions, _ = settle({}, tree(F("/x", "h2", 9)), tree(F("/x", "h1", 4)))
    assert actions == [Download("/x", "h2", 9, None)]


def test_remote_delete_of_a_locally_modified_file_uploads_it_again():
    actions, _ = settle(local_of(F("/x", "h2")), {}, tree(F("/x", "h1", 4)))
    assert actions == [Upload("/x", "h2", None)]


def test_remote_folder_delete_keeps_new_local_files_and_deletes_the_synced_ones():
    s = tree(D("/d"), F("/d/old", "h1", 1))
    local = local_of(D("/d"), F("/d/old", "h1"), F("/d/new", "h2"))
    actions, world = settle(local, {}, s)
    assert actions == [DeleteLocal("/d/old", FILE, "h1"), MkdirRemote("/d"), Upload("/d/new", "h2", None)]
    assert sorted(world.remote) == ["/d", "/d/new"]


def test_local_folder_delete_keeps_files_changed_remotely():
    s = tree(D("/d"), F("/d/x", "h1", 1), F("/d/y", "h1", 2))
    remote = tree(D("/d"), F("/d/x", "h1", 1), F("/d/y", "h9", 3), F("/d/z", "h3", 4))
    actions, world = settle({}, remote, s)
    assert actions == [
        DeleteRemote("/d/x", FILE),
        MkdirLocal("/d"),
        Download("/d/y", "h9", 3, None),
        Download("/d/z", "h3", 4, None),
    ]
    assert sorted(world.local) == ["/d", "/d/y", "/d/z"]


def test_local_folder_against_remote_file_renames_the_local_folder():
    local = local_of(D("/v1.2"), F("/v1.2/x", "h1"))
    actions, world = settle(local, tree(F("/v1.2", "h2", 1)), {})
    copy = f"/v1.2{CC}"
    assert actions == [
        ConflictRename("/v1.2", copy, FOLDER),
        MkdirRemote(copy),
        Download("/v1.2", "h2", 1, None),
        Upload(f"{copy}/x", "h1", None),
    ]
    assert world.local[f"{copy}/x".casefold()].content_hash == "h1"


def test_local_file_against_remote_folder_renames_the_local_file():
    actions, _ = settle(local_of(F("/n", "h1")), tree(D("/n"), F("/n/x", "h2", 1)), {})
    assert actions == [
        ConflictRename("/n", f"/n{CC}", FILE),
        MkdirLocal("/n"),
        Upload(f"/n{CC}", "h1", None),
        Download("/n/x", "h2", 1, None),
    ]


def test_folder_replaced_remotely_by_a_file_while_edited_locally_is_kept_whole():
    s = tree(D("/d"), F("/d/a", "h1", 1), F("/d/b", "h2", 2))
    local = local_of(D("/d"), F("/d/a", "h1"), F("/d/b", "h9"))
    actions, world = settle(local, tree(F("/d", "h5", 3)), s)
    assert actions[0] == ConflictRename("/d", f"/d{CC}", FOLDER)
    assert {world.local[k].content_hash for k in world.local if k.startswith("/d (")} == {None, "h1", "h9"}


def test_folder_replaced_locally_by_a_file_while_edited_remotely_restores_the_changes():
    s = tree(D("/d"), F("/d/a", "h1", 1), F("/d/b", "h2", 2))
    remote = tree(D("/d"), F("/d/a", "h1", 1), F("/d/b", "h9", 3))
    actions, world = settle(local_of(F("/d", "h5")), remote, s)
    assert actions == [
        ConflictRename("/d", f"/d{CC}", FILE),
        DeleteRemote("/d/a", FILE),
        MkdirLocal("/d"),
        Upload(f"/d{CC}", "h5", None),
        Download("/d/b", "h9", 3, None),
    ]


# -- case-only renames ----------------------------------------------------------


def test_local_case_rename_is_sent_to_the_server():
    s = tree(F("/readme", "h1", 1))
    actions, _ = settle(local_of(F("/README", "h1")), s, s)
    assert actions == [MoveRemote("/readme", "/README", FILE, "h1")]


def test_remote_case_rename_of_a_folder_reaches_new_children_under_the_new_case():
    s = tree(D("/docs"), F("/docs/a", "h1", 1))
    remote = tree(D("/Docs"), F("/Docs/a", "h1", 1), F("/Docs/b", "h2", 2))
    actions, world = settle(local_of(*s.values()), remote, s)
    assert actions == [MoveLocal("/docs", "/Docs", FOLDER, None), Download("/Docs/b", "h2", 2, None)]
    assert world.local["/docs/b"].path == "/Docs/b"


def test_case_renamed_differently_on_both_sides_takes_the_remote_case():
    s = tree(F("/abc", "h1", 1))
    actions, _ = settle(local_of(F("/ABC", "h1")), tree(F("/Abc", "h1", 1)), s)
    assert actions == [MoveLocal("/ABC", "/Abc", FILE, "h1")]


def test_case_rename_and_content_change_from_different_sides():
    s = tree(F("/abc", "h1", 1))
    actions, _ = settle(local_of(F("/abc", "h2")), tree(F("/ABC", "h1", 1)), s)
    assert actions == [MoveLocal("/abc", "/ABC", FILE, "h2"), Upload("/ABC", "h2", 1)]


def test_local_case_rename_of_a_parent_applies_to_uploads_below_it():
    s = tree(D("/a"), D("/a/b"))
    local = local_of(D("/A"), D("/A/b"), F("/A/b/new", "h1"))
    actions, _ = settle(local, s, s)
    assert actions == [MoveRemote("/a", "/A", FOLDER, None), Upload("/A/b/new", "h1", None)]


# -- moves ----------------------------------------------------------------------------


def test_local_move_is_a_remote_move_without_upload():
    s = tree(D("/a"), F("/a/x", "h1", 4))
    local = local_of(D("/a"), D("/b"), F("/b/y", "h1"))
    actions, world = settle(local, s, s)
    assert actions == [MkdirRemote("/b"), MoveRemote("/a/x", "/b/y", FILE, "h1")]
    assert world.remote["/b/y"].rev == 4


def test_remote_move_is_a_local_move_and_records_the_new_rev():
    s = tree(F("/x", "h1", 4))
    actions, _ = settle(local_of(*s.values()), tree(F("/y", "h1", 8)), s)
    assert actions == [MoveLocal("/x", "/y", FILE, "h1"), RecordSynced(F("/y", "h1", 8))]


def test_folder_rename_is_mkdir_moves_then_delete():
    s = tree(D("/old"), F("/old/a", "h1", 1), F("/old/b", "h2", 2))
    local = local_of(D("/new"), F("/new/a", "h1"), F("/new/b", "h2"))
    actions, _ = settle(local, s, s)
    assert actions == [
        MkdirRemote("/new"),
        MoveRemote("/old/a", "/new/a", FILE, "h1"),
        MoveRemote("/old/b", "/new/b", FILE, "h2"),
        DeleteRemote("/old", FOLDER),
    ]


def test_empty_files_are_not_paired_as_moves():
    s = tree(F("/x", EMPTY_CONTENT_HASH, 1))
    actions, _ = settle(local_of(F("/y", EMPTY_CONTENT_HASH)), s, s)
    assert actions == [DeleteRemote("/x", FILE), Upload("/y", EMPTY_CONTENT_HASH, None)]


def test_moved_file_that_was_changed_on_the_other_side_is_restored_not_moved():
    s = tree(F("/x", "h1", 1))
    actions, _ = settle(local_of(F("/y", "h1")), tree(F("/x", "h2", 2)), s)
    assert actions == [Download("/x", "h2", 2, None), Upload("/y", "h1", None)]


# -- robustness and order ---------------------------------------------------------------


def test_missing_parent_folders_are_implied():
    actions = plan({}, tree(F("/a/b/x", "h1", 1)), {}, device="laptop", today=TODAY)
    assert actions == [MkdirLocal("/a"), MkdirLocal("/a/b"), Download("/a/b/x", "h1", 1, None)]


def test_stale_mapping_keys_are_ignored():
    remote = {"wrong-key": F("/X", "h1", 1)}
    assert plan({}, remote, {}, device="laptop", today=TODAY) == [Download("/X", "h1", 1, None)]


def test_plan_is_in_phase_order_and_phases_are_exposed():
    s = tree(F("/a", "h1", 1), D("/gone"))
    local = local_of(F("/A", "h1"), D("/new"), F("/new/f", "h2"))
    actions = plan(
        local, tree(F("/a", "h1", 1), D("/gone"), F("/c", "hc", 2)), s, device="laptop", today=TODAY
    )
    assert [a.phase for a in actions] == [
        Phase.CASE_RENAME,
        Phase.MKDIR,
        Phase.DELETE_FOLDERS,
        Phase.TRANSFER,
        Phase.TRANSFER,
    ]


def test_nodes_validate_their_fields():
    with pytest.raises(ValueError):
        Node(FILE, "/x")
    with pytest.raises(ValueError):
        Node(FOLDER, "/x", "h1")
    with pytest.raises(ValueError):
        Node(FILE, "x", "h1")
