"""The planner in shared folders the user may not write (client.sync.plan.shares): a viewer's
share and a share that went. Every scenario is applied with the simulator and planned again."""

from __future__ import annotations

from client.sync.plan.reconcile import (
    Action,
    ConflictRename,
    DeleteLocal,
    DeleteRemote,
    Download,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    Upload,
    plan,
)
from client.sync.plan.shares import READ_ONLY, REMOVED, Area, areas_of, notice
from client.sync.plan.tree import FILE, FOLDER
from client.sync.state.mounts import MountRecord

from .test_reconcile import TODAY, local_of
from .test_simulator import D, F, World, tree

KEPT = "/Team (conflicted copy from laptop 2024-05-01)"
VIEWER = [Area("/Team", READ_ONLY)]
GONE = [Area("/Team", REMOVED)]


def settle(local: dict, remote: dict, synced: dict, areas: list[Area]) -> tuple[list[Action], World]:
    """Plan, apply, check nothing in an area goes up, and that planning again gives nothing."""
    actions = plan(local, remote, synced, device="laptop", today=TODAY, areas=areas)
    for a in actions:
        if isinstance(a, Upload | MkdirRemote | DeleteRemote | MoveRemote):
            assert not any(area.holds(a.key) for area in areas), f"{a} writes into {areas}"
    world = World(local, remote, synced)
    world.apply_all(actions)
    assert world.local_view() == world.remote_view()
    assert plan(world.local, world.remote, world.synced, device="laptop", today=TODAY, areas=areas) == []
    return actions, world


SHARE = (D("/Team"), D("/Team/sub"), F("/Team/a.txt", "ha", 1), F("/Team/sub/b.txt", "hb", 2))


def test_a_viewer_s_edit_is_kept_beside_the_share_and_the_server_s_version_restored():
    s = tree(*SHARE)
    local = local_of(*SHARE)
    local[F("/Team/a.txt", "mine").key] = F("/Team/a.txt", "mine")
    actions, world = settle(local, s, s, VIEWER)
    assert actions == [
        ConflictRename("/Team/a.txt", f"{KEPT}/a.txt", FILE, "/Team", READ_ONLY),
        MkdirRemote(KEPT),
        Upload(f"{KEPT}/a.txt", "mine", None),
        Download("/Team/a.txt", "ha", 1, None),
    ]
    assert world.local[f"{KEPT}/a.txt".casefold()].content_hash == "mine"


def test_a_viewer_s_new_files_deletes_and_moves_are_undone():
    s = tree(*SHARE)
    local = local_of(D("/Team"), D("/Team/sub"), F("/Team/sub/moved.txt", "ha"), D("/Team/new"), F("/Team/new/n", "hn"))
    actions, _ = settle(local, s, s, VIEWER)
    assert ConflictRename("/Team/new/n", f"{KEPT}/new/n", FILE, "/Team", READ_ONLY) in actions
    # the moved file holds bytes the server has: deleted here, not kept
    assert not any(isinstance(a, ConflictRename) and "moved" in a.path for a in actions)
    assert DeleteLocal("/Team/sub/moved.txt", FILE, "ha") in actions or any(
        isinstance(a, MoveLocal) and a.src == "/Team/sub/moved.txt" for a in actions
    )
    assert DeleteLocal("/Team/new", FOLDER, None) in actions


def test_in_a_viewer_s_share_a_both_sides_edit_is_no_conflict_in_the_share():
    s = tree(*SHARE)
    r = tree(*SHARE[:2], F("/Team/a.txt", "theirs", 5), SHARE[3])
    local = local_of(*SHARE)
    local[F("/Team/a.txt", "mine").key] = F("/Team/a.txt", "mine")
    actions, _ = settle(local, r, s, VIEWER)
    renames = [a for a in actions if isinstance(a, ConflictRename)]
    assert renames == [ConflictRename("/Team/a.txt", f"{KEPT}/a.txt", FILE, "/Team", READ_ONLY)]


def test_a_case_rename_in_a_viewer_s_share_is_undone_locally():
    s = tree(*SHARE)
    local = local_of(D("/Team"), D("/Team/SUB"), F("/Team/SUB/b.txt", "hb"), F("/Team/a.txt", "ha"))
    actions, _ = settle(local, s, s, VIEWER)
    assert actions == [MoveLocal("/Team/SUB", "/Team/sub", FOLDER, None)]


def test_a_share_that_went_leaves_the_disk_keeping_what_was_not_uploaded():
    local = local_of(*SHARE, F("/Team/sub/new.txt", "hn"), F("/mine.txt", "hm"))
    local[F("/Team/a.txt", "edited").key] = F("/Team/a.txt", "edited")
    r = tree(F("/mine.txt", "hm", 9))
    synced = tree(*SHARE, F("/mine.txt", "hm", 9))
    actions, world = settle(local, r, synced, GONE)
    renames = sorted((a.path, a.new_path) for a in actions if isinstance(a, ConflictRename))
    assert renames == [("/Team/a.txt", f"{KEPT}/a.txt"), ("/Team/sub/new.txt", f"{KEPT}/sub/new.txt")]
    assert not any(k == "/team" or k.startswith("/team/") for k in world.local)
    assert world.local["/mine.txt"].content_hash == "hm"


def test_a_second_edit_goes_into_the_same_folder_and_a_taken_name_gets_a_copy_name():
    s = tree(*SHARE, D(KEPT), F(f"{KEPT}/a.txt", "first", 7))
    local = local_of(*s.values())
    local[F("/Team/a.txt", "second").key] = F("/Team/a.txt", "second")
    actions, _ = settle(local, s, s, VIEWER)
    kept = [a.new_path for a in actions if isinstance(a, ConflictRename)]
    assert kept == [f"{KEPT}/a (conflicted copy from laptop 2024-05-01).txt"]


def test_areas_of_mounts():
    mounts = [MountRecord("/A", "viewer", False), MountRecord("/B", "editor", False), MountRecord("/C", "owner", True),
              MountRecord("/D", "editor", True)]  # fmt: skip
    areas, done = areas_of(mounts, {"/c/x": F("/C/x", "h"), "/d": D("/D")}, {})
    assert areas == [Area("/A", READ_ONLY), Area("/C", REMOVED)] and done == ["/D"]
    areas, done = areas_of(mounts, {"/d": D("/D")}, {"/d": D("/D")})  # not done while synced holds it
    assert Area("/D", REMOVED) in areas and done == ["/C"]


def test_the_notice_says_why():
    assert notice("/Team", READ_ONLY, "/Team/sub/a.txt", "/K/sub/a.txt") == (
        "/Team is shared with you read-only: your edit to sub/a.txt was kept as /K/sub/a.txt"
    )
    assert "no longer shared with you" in notice("/Team", REMOVED, "/Team/a.txt", "/K/a.txt")
