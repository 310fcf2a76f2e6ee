"""Shared folders the daemon may not write to (pure): a viewer's share, and a share that went.

In a share where the user is a **viewer** the server refuses every write, and a share that was
**removed** (the member removed, or they left, or the owner unshared it) is no longer in the
user's tree at all. In both *areas* only the server's side counts (:func:`rules.obey
<client.sync.plan.rules.obey>`): a local edit, new file, delete or move is never uploaded; the
server's version comes back (or, for a share that went, the folder leaves the disk).

What the user wrote there is never lost: every local file in an area whose bytes the server's
side of that area does not hold (a file new or changed since it was synced) is first moved
**beside the share**, into a folder named like a conflicted copy of it::

    /Team (conflicted copy from laptop 2026-05-01)/sub/a.txt

at the same path inside it as in the share. That folder is in the user's own home tree (a share
cannot hold a mount, so the folder a share is mounted in is always the home's), so it is
uploaded like any new folder and reaches the user's other devices: the copy survives even if
this device does not. A file at the same path in it already gets a conflicted-copy name of its
own. One day's copies of one device share the folder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from protocol import paths

from .conflict import conflicted_name
from .tree import Node, is_under, same_content

#: the user is a viewer of the share: the server refuses writes
READ_ONLY = "read_only"
#: the share is no longer in the user's tree (removed, left, unshared)
REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Area:
    """A shared folder mounted at ``path`` where only the server's side counts, and why."""

    path: str
    reason: str

    @property
    def key(self) -> str:
        return paths.path_key(self.path)

    def holds(self, key: str) -> bool:
        return key == self.key or is_under(key, self.key)


def area_of(areas: Sequence[Area], key: str) -> Area | None:
    """The area ``key`` is in, if any."""
    return next((a for a in areas if a.holds(key)), None)


def inside(path: str, area: Area) -> str:
    """``path`` (in the area) relative to its mount path."""
    return "/".join(path.split("/")[area.path.count("/") + 1 :])


@dataclass(frozen=True, slots=True)
class Keep:
    """A local file of ``area`` to move to ``new_path``, outside it."""

    area: Area
    new_path: str


def keep_outside(
    L: Mapping[str, Node],
    R: Mapping[str, Node],
    S: Mapping[str, Node],
    areas: Sequence[Area],
    *,
    device: str,
    today: dt.date,
    taken: set[str],
) -> dict[str, Keep]:
    """The local files of the areas that hold bytes only this device has, by key, each with the
    path it is kept at (see the module docstring); ``taken`` (the keys in use) gets the new ones."""
    files = {key for t in (L, R, S) for key, n in t.items() if n.is_file}
    out: dict[str, Keep] = {}
    for area in areas:
        changed = sorted(k for k, n in L.items() if n.is_file and area.holds(k) and not same_content(n, S.get(k)))
        if not changed:
            continue
        server_has = {n.content_hash for k, n in R.items() if n.is_file and area.holds(k)}
        folder = ""
        for key in changed:
            node = L[key]
            if node.content_hash in server_has:
                continue
            folder = folder or conflicted_name(area.path, device, today, folder=True, taken=files)
            new = paths.join(folder, inside(node.path, area))
            if paths.path_key(new) in taken:
                new = conflicted_name(new, device, today, taken=taken)
            taken.add(paths.path_key(new))
            out[key] = Keep(area, new)
    return out


class MountLike(Protocol):
    path: str
    role: str
    gone: bool


def areas_of(mounts: Iterable[MountLike], L: Mapping[str, Node], S: Mapping[str, Node]) -> tuple[list[Area], list[str]]:
    """The areas of the tree's mounts, and the mounts that went whose folder is done with: no
    file of it is left on disk and nothing of it in the synced tree. (A folder left holding only
    entries .tesseraignore keeps out of sync stays, as an ordinary folder of the user's.)"""
    areas, done = [], []
    for m in mounts:
        if m.gone:
            area = Area(m.path, REMOVED)
            if any(n.is_file and area.holds(k) for k, n in L.items()) or any(area.holds(k) for k in S):
                areas.append(area)
            else:
                done.append(m.path)
        elif m.role == "viewer":
            areas.append(Area(m.path, READ_ONLY))
    return areas, done


def notice(share: str, reason: str, path: str, kept_as: str) -> str:
    """Why a local file was moved out of a share, in words (``tessera status`` shows it)."""
    rel = inside(path, Area(share, reason)) or paths.basename(path)
    if reason == READ_ONLY:
        return f"{share} is shared with you read-only: your edit to {rel} was kept as {kept_as}"
    return f"{share} is no longer shared with you: your edit to {rel}, not uploaded yet, was kept as {kept_as}"
