"""Where a user's path is: their home namespace, or a shared namespace mounted in it.

A mount puts the root of a shared namespace at a path of the member's home tree; every
path at or below it is in that namespace. :func:`resolve` turns a path of the user's tree
into a :class:`Place` (the namespace, the path inside it, the caller's role there), and a
place turns the namespace's paths back into the user's (:meth:`Place.out`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from protocol import paths
from protocol.messages.files import Metadata

from ..core import members
from ..core.callers import Context

#: an answer with a ``path`` (and maybe a ``name``): a protocol message, or a plain dict
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Mount:
    """A mount of the user's: the shared namespace ``ns_id`` at ``path`` of their home tree."""

    ns_id: int
    path: str
    role: str
    name: str
    #: when the member mounted it (Unix seconds)
    since: float = 0.0

    @property
    def parts(self) -> list[str]:
        return paths.path_key(self.path).split("/")

    def metadata(self) -> Metadata:
        """The mount point as the folder it looks like in its parent's listing."""
        return Metadata("folder", self.path, paths.basename(self.path), shared=True, ns_id=self.ns_id, role=self.role)


@dataclass(frozen=True, slots=True)
class Place:
    """A path of the user's tree, resolved: namespace ``ns_id``, ``path`` inside it, the user's
    ``role`` there; ``prefix`` is the mount path ("" in the home namespace)."""

    ns_id: int
    path: str
    prefix: str
    role: str

    @property
    def is_mount_root(self) -> bool:
        return bool(self.prefix) and self.path == paths.ROOT

    def outer(self, inner: str) -> str:
        """A path of the namespace as the user sees it."""
        if not self.prefix:
            return inner
        return self.prefix if inner == paths.ROOT else self.prefix + inner

    def out(self, meta: M) -> M:
        """An answer about the namespace (its ``path`` and ``name``) as the user sees it: a
        protocol message (:class:`~protocol.messages.files.Metadata`, ...) or a dict."""
        if not self.prefix:
            return meta
        if isinstance(meta, dict):
            return self._out_dict(meta)  # type: ignore[return-value]
        inner = getattr(meta, "path", None)
        if not dataclasses.is_dataclass(meta) or not isinstance(inner, str):
            return meta
        outer = self.outer(inner)
        changes = {"path": outer, **({"name": paths.basename(outer)} if hasattr(meta, "name") else {})}
        return dataclasses.replace(meta, **changes)  # type: ignore[type-var]

    def _out_dict(self, meta: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(meta.get("path"), str):
            return meta
        outer = self.outer(meta["path"])
        fixed = {**meta, "path": outer}
        if "name" in meta:
            fixed["name"] = paths.basename(outer)
        return fixed

    def need(self, need: str) -> None:
        members.check(self.role, need)


async def mounts_of(conn: asyncpg.Connection, user_id: int) -> list[Mount]:
    """The user's mounts of shares they are still a member of, deepest path first."""
    rows = await conn.fetch(
        """SELECT m.ns_id, m.path, mem.role, n.name, m.created_at
             FROM mounts m
             JOIN ns_members mem ON mem.ns_id = m.ns_id AND mem.user_id = m.user_id
             JOIN namespaces n ON n.id = m.ns_id AND n.unshared_at IS NULL
            WHERE m.user_id = $1""",
        user_id,
    )
    found = [Mount(r["ns_id"], r["path"], r["role"], r["name"] or "", r["created_at"].timestamp()) for r in rows]
    return sorted(found, key=lambda m: -len(m.parts))


def mount_at(mounts: Sequence[Mount], path: str) -> Mount | None:
    """The mount ``path`` is at or below, if any."""
    parts = paths.path_key(path).split("/")
    for m in mounts:  # deepest first
        mp = m.parts
        if parts[: len(mp)] == mp:
            return m
    return None


def locate(home_ns: int, mounts: Sequence[Mount], path: str) -> Place:
    """Where ``path`` (normalised) is, given the user's home namespace and mounts."""
    m = mount_at(mounts, path)
    if m is None:
        return Place(home_ns, path, "", members.OWNER)
    rest = path.split("/")[len(m.parts):]
    return Place(m.ns_id, "/" + "/".join(rest) if rest else paths.ROOT, m.path, m.role)


async def resolve(conn: asyncpg.Connection, ctx: Context, path: str, need: str = members.READ) -> Place:
    """Where the caller's ``path`` is, if their role there allows ``need`` (403 otherwise)."""
    place = locate(ctx.ns_id, await mounts_of(conn, ctx.caller.user_id), path)
    place.need(need)
    return place


async def place_of_namespace(conn: asyncpg.Connection, ctx: Context, ns_id: int, need: str = members.READ) -> Place:
    """The root of namespace ``ns_id`` as the caller sees it (their home, or one of their mounts)."""
    if ns_id == ctx.ns_id:
        return Place(ns_id, paths.ROOT, "", members.OWNER)
    for m in await mounts_of(conn, ctx.caller.user_id):
        if m.ns_id == ns_id:
            place = Place(ns_id, paths.ROOT, m.path, m.role)
            place.need(need)
            return place
    members.check(None, need)
    raise AssertionError("unreachable")
