"""Path rules.

A Tessera path is absolute and ``/``-separated, NFC-normalised, with no empty,
``.`` or ``..`` segments, no NUL or control characters, each component at most
255 UTF-8 bytes and the whole path at most 4096 bytes. ``/`` is the root.
Uniqueness is case-insensitive: :func:`path_key` gives the key two paths
collide on, while the display path keeps the case it was given.
"""

from __future__ import annotations

import unicodedata

from .errors import BadPath

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
ROOT = "/"


def _check_component(part: str, path: str) -> None:
    if part == "":
        raise BadPath(f"empty path segment in {path!r}")
    if part in (".", ".."):
        raise BadPath(f"'.' and '..' are not allowed in paths: {path!r}")
    for ch in part:
        if unicodedata.category(ch) == "Cc":
            raise BadPath(f"control character {ch!r} in path {path!r}")
    if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
        raise BadPath(f"path component longer than {MAX_COMPONENT_BYTES} bytes: {part[:40]!r}...")
    if part != part.rstrip(" "):
        raise BadPath(f"path component ends with a space: {part!r}")


def normalize(path: object) -> str:
    """Validate ``path`` and return it NFC-normalised; raise BadPath if it breaks a rule."""
    if not isinstance(path, str):
        raise BadPath("path must be a string")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise BadPath("path is not valid UTF-8") from None
    path = unicodedata.normalize("NFC", path)
    if not path.startswith("/"):
        raise BadPath(f"path must start with '/': {path!r}")
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise BadPath(f"path longer than {MAX_PATH_BYTES} bytes")
    if path == ROOT:
        return ROOT
    for part in path[1:].split("/"):
        _check_component(part, path)
    return path


def path_key(path: str) -> str:
    """The case-insensitive key of a normalised path: two paths collide iff keys are equal."""
    return unicodedata.normalize("NFC", path.casefold())


def parent(path: str) -> str:
    """The parent folder of a normalised path (the root's parent is the root)."""
    if path == ROOT:
        return ROOT
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def basename(path: str) -> str:
    return "" if path == ROOT else path.rsplit("/", 1)[1]


def join(folder: str, name: str) -> str:
    return ("/" + name) if folder == ROOT else f"{folder}/{name}"


def ancestors(path: str) -> list[str]:
    """Every folder above ``path``, outermost first, not including the root."""
    out: list[str] = []
    p = parent(path)
    while p != ROOT:
        out.append(p)
        p = parent(p)
    out.reverse()
    return out


def is_within(path: str, folder: str) -> bool:
    """True if ``path`` is ``folder`` or lies below it (compared by key)."""
    pk, fk = path_key(path), path_key(folder)
    if fk == path_key(ROOT):
        return True
    return pk == fk or pk.startswith(fk + "/")
