"""Several users' daemons on one shared folder, for the sync tests of shared folders.

:class:`Team` adds users to a :class:`~tests.client.sync.sync_harness.Fleet` (whose devices
then belong to different accounts), shares a folder and waits until every device's copy of
it agrees with the server's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from client import TesseraClient
from tests.client.conftest import PASSWORD, USER

from .sync_harness import (
    CONVERGE_TIMEOUT,
    Device,
    Fleet,
    Snapshot,
    eventually,
    remote_snapshot,
    show,
    snapshot,
)


def password(user: str) -> str:
    return PASSWORD if user == USER else f"pw-{user}-long-enough"


class Team:
    """Users and their devices around one shared folder (``share``, a path of the owner's)."""

    def __init__(self, fleet: Fleet, share: str = "/Team") -> None:
        self.fleet = fleet
        self.share = share
        self.users: set[str] = {USER}  # the fleet's own user, there already

    async def device(self, user: str, name: str, *, start: bool = True) -> Device:
        if user not in self.users:
            await self.fleet.servers.add_user(user, password(user))
            self.users.add(user)
        return await self.fleet.add(name, start=start, user=user, password=password(user))

    async def join(self, owner: TesseraClient, member: TesseraClient, user: str, role: str) -> str:
        """Invite ``user`` as ``role`` and accept; the member's mount path."""
        inv = await owner.shares.invite(self.share, user, role)
        return await member.shares.accept(inv.id)

    async def converged(self, *devices: Device, within: float = CONVERGE_TIMEOUT) -> Snapshot:
        """Wait until the devices are idle and hold the same copy of the share as the server (the
        first device's view of it); the rest of their folders is theirs."""
        rel = self.share.strip("/")
        last: list[Snapshot | None] = [None]

        async def check() -> bool:
            if not all(d.idle for d in devices):
                return False
            snaps = [await snapshot(d.root / rel) for d in devices]
            if any(s != snaps[0] for s in snaps[1:]) or not all(d.idle for d in devices):
                return False
            remote = await remote_snapshot(devices[0].client, self.share)
            if {k.removeprefix(rel + "/"): v for k, v in remote.items()} != snaps[0]:
                return False
            stable, last[0] = last[0] == snaps[0], snaps[0]
            return stable

        try:
            await eventually(check, "the devices to agree on the shared folder", within=within)
        except AssertionError:
            await show(devices, self.share)
            raise
        assert last[0] is not None
        return last[0]


async def idle(*devices: Device, within: float = CONVERGE_TIMEOUT) -> None:
    """Wait until the devices are idle (twice in a row, a little apart)."""

    async def check() -> bool:
        if not all(d.idle for d in devices):
            return False
        await asyncio.sleep(0.3)
        return all(d.idle for d in devices)

    await eventually(check, "the devices to be idle", within=within)


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under ``root``: relative path -> content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
