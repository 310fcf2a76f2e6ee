"""Full scan of the synced folder into the local tree.

The walk uses :func:`os.scandir` and never follows symlinks. Symlinks, special
files (sockets, FIFOs, devices), names the server refuses
(:func:`protocol.paths.normalize`), names that collide case-insensitively with
a sibling, and unreadable entries are skipped and reported as
:class:`ScanWarning`; ignored entries (:mod:`client.sync.local.ignore`) are skipped
silently.

Hashing is incremental. A file whose size, mtime and inode match the local
tree is not read at all. Otherwise it is hashed by
:func:`client.sync.local.hashing.hash_local_file`: each 4 MiB block gets an xxh3-64
first, and only a block whose xxh3 (or size) differs from the block index at
the same position gets MD5 and SHA-256 computed (in worker threads); the others
reuse the indexed hashes.

A file that changes while it is hashed (size, mtime or inode differ before and
after, or it is replaced) is reported as unstable and not recorded: the old
row (if any) stays, and the next scan tries again. Likewise a file modified
within a few timestamp ticks of being hashed (:func:`is_racy`: 100 ms where
mtimes have sub-second parts, 2 s where they are whole seconds) is hashed again
by the next scan even if its stat is unchanged, as git does for "racily clean"
entries, since a write in the same mtime tick would otherwise go unseen.

An entry that cannot be read is never reported as deleted (that would delete
it on the server): its previous row, and for a folder everything below it,
is kept.

:func:`scan_blocking` does the work and writes the result in one transaction;
:func:`scan` runs it in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from client.sync.plan.tree import FILE, FOLDER, is_under
from client.sync.state.database import BlockRecord, LocalEntry, SyncState
from client.transfer.filehash import FileHash, FileStamp, HashedBlock, StampedHash
from protocol import paths
from protocol.errors import BadPath
from protocol.hashing import BlockHash

from .hashing import FileUnstable, ScanStats, hash_local_file
from .ignore import IgnoreRules

#: files modified this close to their hashing are hashed again next scan, where the file
#: system's timestamps are whole seconds (FAT's are even two seconds)
RACY_WINDOW_NS = 2_000_000_000
#: the same where timestamps have a sub-second part (ext4, XFS, btrfs, APFS, NTFS): the clock the
#: kernel stamps files with ticks at least every 10 ms (a jiffy at HZ=100), so 100 ms is ten ticks
FINE_RACY_WINDOW_NS = 100_000_000


def is_racy(scanned_at: float, mtime_ns: int | None) -> bool:
    """A row hashed this soon after the file's mtime cannot vouch for the file by its stat alone."""
    if mtime_ns is None:
        return True
    window = FINE_RACY_WINDOW_NS if mtime_ns % 1_000_000_000 else RACY_WINDOW_NS
    return int(scanned_at * 1e9) - mtime_ns < window


@dataclass(frozen=True, slots=True)
class ScanWarning:
    """An entry the scan skipped; ``code`` is one of the ``W_*`` constants."""

    path: str  # relative to the root, "/"-separated, as found on disk
    code: str
    message: str


W_SYMLINK = "symlink"
W_SPECIAL = "special_file"
W_BAD_NAME = "bad_name"
W_CASE_CLASH = "case_clash"
W_UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What changed in the local tree (display paths, sorted)."""

    created: tuple[str, ...]
    modified: tuple[str, ...]  #: content, kind or display case changed
    deleted: tuple[str, ...]
    unstable: tuple[str, ...]  #: changed while hashed; not recorded, retried next scan
    warnings: tuple[ScanWarning, ...]
    stats: ScanStats = field(default_factory=ScanStats)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.modified or self.deleted)


def scanned_hash(state: SyncState, tree_path: str, expected: str) -> StampedHash | None:
    """The block hashes the last scan recorded for a local file, with the file's stamp then (blocking).

    For the upload of that file (:func:`client.transfer.upload.file.upload_file`
    uses them if the file still has that stamp, instead of hashing it again).
    None if the local tree has no file there with content ``expected``, or its
    block index does not add up to that content.
    """
    entry = state.local_entry(tree_path)
    if (
        entry is None
        or entry.kind != FILE
        or entry.content_hash != expected
        or entry.size is None
        or entry.mtime_ns is None
        or entry.inode is None
    ):
        return None
    blocks = state.blocks(tree_path)
    if [b.idx for b in blocks] != list(range(len(blocks))):
        return None
    try:
        hashed = FileHash.of(
            entry.size, [HashedBlock(BlockHash(b.size, b.md5, b.sha256), b.xxh3_64) for b in blocks]
        )
    except ValueError:
        return None
    if hashed.content_hash != expected:
        return None
    return StampedHash(FileStamp(entry.size, entry.mtime_ns, entry.inode), hashed)


class _Scan:
    """One scan run; see the module docstring."""

    def __init__(self, root: Path, state: SyncState, rules: IgnoreRules, clock: Callable[[], float]) -> None:
        self.root = root
        self.state = state
        self.rules = rules
        self.clock = clock
        self.prev = state.local_entries()
        self.seen: dict[str, LocalEntry] = {}  # key -> entry as it should be stored
        self.upserts: list[tuple[LocalEntry, tuple[BlockRecord, ...] | None]] = []
        self.keep_below: list[str] = []  # keys of unreadable folders: their old rows stay
        self.unstable: list[str] = []
        self.warnings: list[ScanWarning] = []
        self.stats = ScanStats()

    def warn(self, rel: str, code: str, message: str) -> None:
        self.warnings.append(ScanWarning(rel, code, message))

    def run(self) -> ScanResult:
        self.walk()
        return self.finish()

    def walk(self) -> None:
        stack: list[tuple[str, str]] = [(str(self.root), paths.ROOT)]
        while stack:
            fs_dir, tree_dir = stack.pop()
            try:
                with os.scandir(fs_dir) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as e:
                self.warn(tree_dir, W_UNREADABLE, f"cannot list folder: {e.strerror or e}")
                self.keep_below.append(paths.path_key(tree_dir))
                continue
            for entry in entries:
                sub = self.visit(entry, tree_dir)
                if sub is not None:
                    stack.append(sub)

    def visit(self, entry: os.DirEntry[str], tree_dir: str) -> tuple[str, str] | None:
        """Record one directory entry; returns (fs path, tree path) of a folder to descend into."""
        raw_rel = paths.join(tree_dir, entry.name)
        try:
            is_link = entry.is_symlink()
            is_dir = not is_link and entry.is_dir(follow_symlinks=False)
            is_file = not is_link and entry.is_file(follow_symlinks=False)
        except OSError as e:
            self.warn(raw_rel, W_UNREADABLE, f"cannot stat: {e.strerror or e}")
            self._keep_previous(raw_rel)
            return None
        if self.rules.is_ignored(raw_rel, is_dir):
            return None
        if is_link:
            self.warn(raw_rel, W_SYMLINK, "symbolic links are not synced")
            return None
        if not (is_dir or is_file):
            self.warn(raw_rel, W_SPECIAL, "special files (sockets, pipes, devices) are not synced")
            return None
        tree_path = self._tree_path(entry, raw_rel)
        if tree_path is None:
            return None
        key = paths.path_key(tree_path)
        if key in self.seen:
            self.warn(
                raw_rel, W_CASE_CLASH, f"its name differs only in case from {self.seen[key].path}; not synced"
            )
            return None
        if is_dir:
            prev = self.prev.get(key)
            inode = entry.inode()
            if prev is not None and (prev.kind, prev.path, prev.inode) == (FOLDER, tree_path, inode):
                self._record(prev, None)
            else:
                self._record(LocalEntry(tree_path, FOLDER, inode=inode, scanned_at=self.clock()), None)
            return entry.path, tree_path
        self._visit_file(entry, tree_path, raw_rel)
        return None

    def _tree_path(self, entry: os.DirEntry[str], raw_rel: str) -> str | None:
        """The tree (NFC) path of an entry, or None (warned) if the server would refuse it."""
        try:
            tree_path = paths.normalize(raw_rel)
        except BadPath as e:
            self.warn(raw_rel, W_BAD_NAME, f"the server refuses this name: {e.message}")
            return None
        if tree_path != raw_rel:  # not NFC on disk: fine only if the NFC spelling opens the same file
            nfc = os.path.join(os.path.dirname(entry.path), unicodedata.normalize("NFC", entry.name))
            try:
                same = os.path.samestat(
                    os.stat(nfc, follow_symlinks=False), entry.stat(follow_symlinks=False)
                )
            except OSError:
                same = False
            if not same:
                self.warn(
                    raw_rel, W_BAD_NAME, "the name is not in Unicode NFC form on disk; rename it to sync it"
                )
                return None
        return tree_path

    def _visit_file(self, entry: os.DirEntry[str], tree_path: str, raw_rel: str) -> None:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return  # gone since the listing: it is simply not there
        except OSError as e:
            self.warn(raw_rel, W_UNREADABLE, f"cannot stat: {e.strerror or e}")
            self._keep_previous(tree_path)
            return
        prev = self.prev.get(paths.path_key(tree_path))
        if prev is not None and self._unchanged(prev, st):
            if prev.path != tree_path:  # renamed in case only
                prev = LocalEntry(
                    tree_path, FILE, prev.size, prev.mtime_ns, prev.inode, prev.content_hash, prev.scanned_at
                )
            self._record(prev, None)
            return
        known = (
            {b.idx: b for b in self.state.blocks(tree_path)} if prev is not None and prev.kind == FILE else {}
        )
        try:
            hashed = hash_local_file(entry.path, known, self.stats)
        except FileNotFoundError:
            return
        except FileUnstable:
            self.unstable.append(tree_path)
            self._keep_previous(tree_path)
            return
        except OSError as e:
            self.warn(raw_rel, W_UNREADABLE, f"cannot read: {e.strerror or e}")
            self._keep_previous(tree_path)
            return
        entry_row = LocalEntry(
            tree_path, FILE, hashed.size, hashed.mtime_ns, hashed.inode, hashed.content_hash, self.clock()
        )
        self._record(entry_row, hashed.blocks)

    @staticmethod
    def _unchanged(prev: LocalEntry, st: os.stat_result) -> bool:
        if prev.kind != FILE or prev.content_hash is None or prev.mtime_ns is None:
            return False
        return not is_racy(prev.scanned_at, prev.mtime_ns) and (prev.size, prev.mtime_ns, prev.inode) == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
        )

    def _record(self, entry: LocalEntry, blocks: tuple[BlockRecord, ...] | None) -> None:
        self.seen[entry.key] = entry
        if self.prev.get(entry.key) != entry:
            self.upserts.append((entry, blocks))

    def _keep_previous(self, tree_path: str) -> None:
        key = paths.path_key(tree_path)
        prev = self.prev.get(key)
        if prev is not None:
            self.seen[key] = prev

    def finish(self) -> ScanResult:
        deleted = [
            key
            for key in self.prev
            if key not in self.seen and not any(key == k or is_under(key, k) for k in self.keep_below)
        ]
        self.state.apply_scan(self.upserts, deleted)
        created, modified = [], []
        for entry, _ in self.upserts:
            old = self.prev.get(entry.key)
            if old is None:
                created.append(entry.path)
            elif (old.kind, old.content_hash, old.path) != (entry.kind, entry.content_hash, entry.path):
                modified.append(entry.path)
        return ScanResult(
            created=tuple(sorted(created)),
            modified=tuple(sorted(modified)),
            deleted=tuple(sorted(self.prev[k].path for k in deleted)),
            unstable=tuple(sorted(self.unstable)),
            warnings=tuple(self.warnings),
            stats=self.stats,
        )


def scan_blocking(
    root: str | os.PathLike[str],
    state: SyncState,
    rules: IgnoreRules,
    *,
    clock: Callable[[], float] = time.time,
) -> ScanResult:
    """Scan ``root`` into the local tree of ``state`` and return what changed (blocking)."""
    return _Scan(Path(root), state, rules, clock).run()


async def scan(
    root: str | os.PathLike[str],
    state: SyncState,
    rules: IgnoreRules,
    *,
    clock: Callable[[], float] = time.time,
) -> ScanResult:
    """:func:`scan_blocking` in a worker thread."""
    return await asyncio.to_thread(scan_blocking, root, state, rules, clock=clock)
