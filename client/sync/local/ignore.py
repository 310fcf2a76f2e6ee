"""What the sync engine leaves alone: ``.tesseraignore`` plus built-in rules.

``.tesseraignore`` at the root of the synced folder uses gitignore syntax
(through :mod:`pathspec`): ``build/`` ignores folders named build anywhere,
``/notes.txt`` only at the root, ``!keep.log`` re-includes. As in git, nothing
below an ignored folder can be re-included. The file itself is an ordinary
synced file (so every device shares the rules) and is never ignored.

Built in, and not overridable: editor swap and backup files (``*.swp``,
``*.swx``, ``*~``, ``.#*``, ``#*#``), ``.DS_Store``, ``Thumbs.db``,
``desktop.ini`` (matched without regard to case), the client's own temporary
download files (``.tessera-tmp-*``), and the client's state folder when it lies
inside the synced folder.

Ignored paths must be filtered out of all three trees before planning
(:meth:`IgnoreRules.filter_tree`): an ignored entry is then neither uploaded,
downloaded nor deleted on either side.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from client.sync.plan.tree import Node

IGNORE_FILE = ".tesseraignore"
#: prefix of the download temp files (must match ``client.transfer.download.file.TEMP_PREFIX``)
TEMP_PREFIX = ".tessera-tmp-"
#: basename patterns always ignored, compared in lower case
BUILTIN_PATTERNS = (
    "*.swp",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    ".ds_store",
    "thumbs.db",
    "desktop.ini",
    TEMP_PREFIX + "*",
)


#: the built-in patterns as one regular expression (fnmatch's own translation of each)
_BUILTIN = re.compile("|".join(fnmatch.translate(pattern) for pattern in BUILTIN_PATTERNS))


@functools.lru_cache(maxsize=65536)
def is_builtin_ignored(name: str) -> bool:
    """True if a file or folder called ``name`` is always ignored.

    Asked for every part of every path of all three trees in each sync round
    (folder names over and over): one regular expression, and a cache.
    """
    return _BUILTIN.match(name.lower()) is not None


@dataclass(frozen=True, slots=True)
class IgnoreError:
    """A line of ``.tesseraignore`` that is not a valid pattern (it is skipped)."""

    line_number: int
    line: str
    reason: str


def _parse(lines: Iterable[str]) -> tuple[pathspec.GitIgnoreSpec, list[IgnoreError]]:
    good: list[str] = []
    errors: list[IgnoreError] = []
    for number, line in enumerate(lines, start=1):
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, TypeError) as e:  # pathspec's pattern errors are ValueErrors
            errors.append(IgnoreError(number, line, str(e)))
        else:
            good.append(line)
    return pathspec.GitIgnoreSpec.from_lines(good), errors


@dataclass(slots=True)
class IgnoreRules:
    """The ignore rules of one synced folder.

    Paths are relative to the synced folder, ``/``-separated, with or without a
    leading ``/`` (tree paths like ``/a/b`` work as they are).
    """

    patterns: tuple[str, ...] = ()
    #: the state folder relative to the root (``None`` if it is outside)
    state_dir: str | None = None
    errors: list[IgnoreError] = field(default_factory=list)
    _spec: pathspec.GitIgnoreSpec = field(init=False, repr=False)
    #: whether .tesseraignore has any rule (blank lines and comments are none)
    _has_rules: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._spec, self.errors = _parse(self.patterns)
        self._has_rules = any(pattern.include is not None for pattern in self._spec.patterns)
        if self.state_dir is not None:
            self.state_dir = self.state_dir.strip("/")

    @classmethod
    def load(
        cls, root: str | os.PathLike[str], *, state_dir: str | os.PathLike[str] | None = None
    ) -> IgnoreRules:
        """The rules of the folder ``root``: its ``.tesseraignore`` (if any) and the built-ins.

        Blocking (reads a file): call it from a thread.
        """
        root_path = Path(root).resolve()
        try:
            text = (root_path / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        rel_state = None
        if state_dir is not None:
            state_path = Path(state_dir).resolve()
            if state_path == root_path or root_path in state_path.parents:
                rel_state = state_path.relative_to(root_path).as_posix()
        return cls(tuple(text.splitlines()), state_dir=rel_state)

    def is_ignored(self, rel_path: str, is_dir: bool) -> bool:
        """True if the entry at ``rel_path`` (or a folder above it) is ignored."""
        rel = rel_path.strip("/")
        if not rel:
            return False
        if rel == IGNORE_FILE:
            return False
        if self.state_dir is not None and (
            self.state_dir in ("", ".") or rel == self.state_dir or rel.startswith(self.state_dir + "/")
        ):
            return True
        parts = rel.split("/")
        if not self._has_rules:  # the built-ins alone
            return any(map(is_builtin_ignored, parts))
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            if is_builtin_ignored(name):
                return True
            candidate = "/".join(parts[: i + 1])
            if self._spec.match_file(candidate + "/" if (is_dir or not last) else candidate):
                return True
        return False

    def filter_tree(self, tree: Mapping[str, Node]) -> dict[str, Node]:
        """The entries of ``tree`` that are not ignored (use on all three trees before planning)."""
        return {k: n for k, n in tree.items() if not self.is_ignored(n.path, n.is_folder)}
