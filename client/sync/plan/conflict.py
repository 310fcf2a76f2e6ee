"""Names for conflicted copies.

When both sides changed the same entry differently, the remote version keeps
the path and the local version is kept beside it as::

    name (conflicted copy from DEVICE YYYY-MM-DD).ext

as Dropbox does. The marker goes before the *last* extension (``a.tar.gz`` ->
``a.tar (conflicted copy from …).gz``); dotfiles without a further dot
(``.bashrc``) and folders get it at the end. If that name is taken, a counter
goes inside the parentheses: ``… 2024-05-01 1)``, ``… 2024-05-01 2)``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Container

from protocol import paths

#: longest device name kept in a conflicted name (in characters)
MAX_DEVICE_CHARS = 64
_UNKNOWN_DEVICE = "unknown device"


def split_extension(name: str) -> tuple[str, str]:
    """Split ``name`` before its last extension: ``a.tar.gz`` -> (``a.tar``, ``.gz``).

    Leading dots do not start an extension (``.bashrc`` has none) and neither
    does a trailing dot (``notes.``).
    """
    body = name.lstrip(".")
    dot = body.rfind(".")
    if dot <= 0 or dot == len(body) - 1:
        return name, ""
    cut = len(name) - len(body) + dot
    return name[:cut], name[cut:]


def clean_device_name(device: str) -> str:
    """The device name made safe for a path component: no ``/``, no control characters."""
    cleaned = "".join("_" if ch == "/" or unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in device)
    cleaned = " ".join(cleaned.split())[:MAX_DEVICE_CHARS].strip()
    return unicodedata.normalize("NFC", cleaned) or _UNKNOWN_DEVICE


def _fit(stem: str, tail: str) -> str:
    """``stem + tail`` cut down (in the stem, on a character boundary) to a valid component length."""
    room = paths.MAX_COMPONENT_BYTES - len(tail.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > room:
        stem = encoded[: max(room, 0)].decode("utf-8", errors="ignore")
    return stem + tail


def conflicted_basename(name: str, device: str, date: dt.date, *, folder: bool = False, n: int = 0) -> str:
    """The ``n``-th candidate conflicted-copy name for ``name`` (``n = 0``: no counter)."""
    stem, ext = (name, "") if folder else split_extension(name)
    counter = f" {n}" if n else ""
    marker = f" (conflicted copy from {clean_device_name(device)} {date:%Y-%m-%d}{counter})"
    if len((marker + ext).encode("utf-8")) >= paths.MAX_COMPONENT_BYTES:
        stem, ext = name, ""  # absurdly long "extension": keep it in the stem
    # the pieces are NFC; composing across a joint can only shorten the name
    return unicodedata.normalize("NFC", _fit(stem, marker + ext))


def conflicted_name(
    path: str,
    device: str,
    date: dt.date,
    *,
    folder: bool = False,
    taken: Container[str] = (),
) -> str:
    """The path for the conflicted copy of ``path``, in the same folder.

    ``taken`` holds path keys that are in use (on either side, or already
    chosen for another copy); the first candidate whose key is not taken wins.
    ``folder`` keeps dots in a folder name from being read as an extension.
    """
    folder_path, name = paths.parent(path), paths.basename(path)
    n = 0
    while True:
        candidate = paths.join(folder_path, conflicted_basename(name, device, date, folder=folder, n=n))
        if paths.path_key(candidate) not in taken:
            return candidate
        n += 1
