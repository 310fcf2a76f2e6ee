"""What a link reaches: exactly the subtree below its path, nothing beside or above it.

A visitor names an item below the link's target by a path relative to it (from the URL,
percent-decoded by the router). Every component must be an ordinary name: empty ones, ``.``,
``..`` and backslashes are refused before anything is joined, the joined path must pass the
path rules, and it must lie within the link's path by key (so ``/Docs2`` is not within
``/Docs``). Anything else is answered as not found, the same as a name that does not exist,
so a visitor learns nothing of what lies outside the link.
"""

from __future__ import annotations

from protocol import paths
from protocol.errors import BadPath, NotFound

from .store import Link


def _outside() -> NotFound:
    return NotFound("there is no such file or folder in this link")


def target_path(link: Link, sub: str) -> str:
    """The tree path of ``sub`` (relative to the link's target); NotFound if it is not below it."""
    sub = sub.strip("/")
    if not sub:
        return link.path
    parts = sub.split("/")
    if any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise _outside()
    try:
        path = paths.normalize(paths.join(link.path, sub))
    except BadPath:
        raise _outside() from None
    if not paths.is_within(path, link.path):
        raise _outside()
    return path


def relative(link: Link, path: str) -> str:
    """``path`` (within the link) relative to the link's target: ``""`` for the target itself."""
    if paths.path_key(path) == paths.path_key(link.path):
        return ""
    cut = 0 if link.path == paths.ROOT else len(link.path)
    return path[cut:].lstrip("/")
