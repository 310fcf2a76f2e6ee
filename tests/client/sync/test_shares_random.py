"""Randomized convergence on a shared folder: three users, five devices, random edits.

alice (two devices) owns /Team, bob (two devices) edits it, carol (one device) views it. Each
step one device creates, edits, renames or deletes something inside its copy of /Team (the
random steps of :mod:`tests.client.sync.test_daemon_random`), while the daemons run, or while
one is stopped. Seeded: ``TESSERA_SYNC_SEED`` replays a run.

Afterwards every device holds the same /Team as the server, each user's devices hold the same
whole tree, and every content ever written survives somewhere as a file (in /Team, in a
conflicted copy, or, for carol's, kept beside the share in her own tree) unless a device
deliberately replaced or deleted the file holding it.
"""

from __future__ import annotations

import os
import random

import pytest

from .share_harness import Team
from .sync_harness import Device, Fleet, eventually, fleet_fixture, remote_snapshot, snapshot  # noqa: F401
from .test_daemon_random import World, play

#: (user, device, role)
PEOPLE = (
    ("alice", "alice-1", "owner"),
    ("alice", "alice-2", "owner"),
    ("bob", "bob-1", "editor"),
    ("bob", "bob-2", "editor"),
    ("carol", "carol-1", "viewer"),
)


async def _team(fleet: Fleet) -> tuple[Team, list[Device]]:
    team = Team(fleet)
    devs = [await team.device(user, name, start=False) for user, name, _ in PEOPLE]
    owner = devs[0]
    await owner.write("Team/docs/a.txt", b"the first file")
    await owner.client.mkdir("/Team")
    await owner.client.upload_file(owner.path("Team/docs/a.txt"), "/Team/docs/a.txt")
    await owner.client.shares.create("/Team")
    first = {}
    for dev, (user, _, role) in zip(devs, PEOPLE, strict=True):
        if role != "owner" and user not in first:
            first[user] = await team.join(owner.client, dev.client, user, role)
    assert set(first.values()) == {"/Team"}
    for d in devs:
        d.start()
    await team.converged(*devs)
    return team, devs


async def _run(fleet: Fleet, *, seed: int, steps: int, offline_every: int, big_every: int) -> None:
    print(f"randomized shared-folder sync test: seed {seed} (replay with TESSERA_SYNC_SEED={seed})")
    rng = random.Random(seed)
    trash = fleet.tmp_path / "trash"
    trash.mkdir()
    world = World(rng, big_every, trash)
    team, devs = await _team(fleet)
    await play(world, devs, steps=steps, offline_every=offline_every, folder="Team")
    await team.converged(*devs, within=240)
    present: set[str] = set()
    for user in ("alice", "bob", "carol"):
        mine = [d for d, (u, _, _) in zip(devs, PEOPLE, strict=True) if u == user]
        await _agree(mine)
        present |= {h for h in (await snapshot(mine[0].root)).values() if h is not None}
    carol = devs[-1]
    assert carol.daemon is not None
    print(f"carol's edits kept beside the share: {len(carol.daemon.status.notices)}")
    lost = {h: data for h, data in world.written.items() if h not in world.replaced and h not in present}
    assert not lost, f"seed {seed}: contents lost: {list(lost.values())}"


async def _agree(devices: list[Device]) -> None:
    """One user's devices hold the same whole tree, the server's."""

    async def same() -> bool:
        if not all(d.idle for d in devices):
            return False
        snaps = [await snapshot(d.root) for d in devices]
        return all(s == snaps[0] for s in snaps) and await remote_snapshot(devices[0].client) == snaps[0]

    await eventually(same, f"{devices[0].name}'s devices to agree", within=120)


async def test_three_users_five_devices_converge_on_a_shared_folder(fleet):
    seed = int(os.environ.get("TESSERA_SYNC_SEED") or random.randrange(1 << 32))
    await _run(fleet, seed=seed, steps=30, offline_every=12, big_every=0)


@pytest.mark.soak
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("round_", range(3))
async def test_three_users_five_devices_converge_on_a_shared_folder_soak(fleet, round_):
    seed = int(os.environ.get("TESSERA_SYNC_SEED") or random.randrange(1 << 32))
    await _run(fleet, seed=seed, steps=300, offline_every=25, big_every=40)
