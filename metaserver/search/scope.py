"""What a search covers: the namespaces a user sees, each where it sits in the user's tree.

A user sees their home namespace, mounted at ``/``, and each shared folder they are a member of,
a namespace of its own mounted at a path of their tree (DESIGN.md, "Sharing"; the caller passes
those mounts to :func:`visible_mounts`, read in the search's own snapshot). Results are shown in
the user's tree: a mount's path, then the entry's path inside the namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protocol import paths

from ..tree.entries import like_prefix


@dataclass(frozen=True, slots=True)
class Mount:
    """Namespace ``ns_id`` appears at ``path`` of the user's tree (``/`` for the home namespace)."""

    ns_id: int
    path: str


@dataclass(frozen=True, slots=True)
class Scope:
    """One mount a search reads: its namespace, where it is mounted (empty for the root, so that
    a result's path is ``mount_path + path``) and, with ``--path``, the LIKE pattern of the path
    keys inside the namespace to keep (None: all of them)."""

    ns_id: int
    mount_path: str
    under: str | None


def visible_mounts(home_ns: int, shared: Iterable[tuple[int, str]] = ()) -> list[Mount]:
    """The namespaces a user can see: their home at ``/``, and the shares they are a member of,
    as (namespace, mount path) pairs."""
    return [Mount(home_ns, paths.ROOT), *(Mount(ns_id, path) for ns_id, path in shared)]


def scopes(mounts: list[Mount], under: str = paths.ROOT) -> list[Scope]:
    """The part of each mount that lies in the folder ``under`` (a normalised path of the
    user's tree): all of a mount inside it, the part below it of a mount that holds it, and
    nothing of a mount elsewhere. Entries strictly below ``under`` are kept, not ``under``."""
    if len({m.ns_id for m in mounts}) != len(mounts):
        raise ValueError("a namespace is mounted once in a user's tree")
    out = []
    for m in mounts:
        mount_path = "" if m.path == paths.ROOT else m.path
        if paths.is_within(m.path, under) and paths.path_key(m.path) != paths.path_key(under):
            out.append(Scope(m.ns_id, mount_path, None))  # the whole mount is below `under`
        elif paths.is_within(under, m.path):
            depth = mount_path.count("/")  # compared by parts, not characters: keys fold case
            inner = "/" + "/".join(under.split("/")[depth + 1 :])
            pattern = None if inner == paths.ROOT else like_prefix(paths.path_key(inner))
            out.append(Scope(m.ns_id, mount_path, pattern))
    return out
