"""The sync executor's operations on the synced folder.

Every function here is **blocking** (file system and SQLite): the executor runs
them in worker threads. They share one rule: nothing the user wrote is ever
overwritten or removed unless it is exactly what the plan expects. A file is
"as expected" when its size, mtime and inode match the local tree's row for it
and that row has the expected content hash; a row hashed within the racy
window of the file's mtime (see :mod:`client.sync.local.scan`) does not vouch for
the file, which is then hashed again. Anything else raises
:class:`LocalChanged`, and the daemon rescans before planning again.

Renames never replace an existing name (``renameat2(RENAME_NOREPLACE)`` where
the platform has it, else a check right before the rename).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from client.sync.plan.tree import FILE, FOLDER, Kind
from client.sync.state.database import BlockRecord, LocalEntry, SyncState
from client.transfer.download.file_writes import rename_noreplace_atomic
from client.transfer.download.temp import TEMP_PREFIX, LocalBlock
from client.transfer.filehash import FileStamp
from protocol import paths
from protocol.errors import BadPath
from protocol.hashing import BLOCK_SIZE
from protocol.messages.blocks import RemoteBlock

from ..errors import UnsafePath
from .hashing import FileUnstable, hash_local_file
from .ignore import IgnoreRules, is_builtin_ignored
from .scan import is_racy


class LocalChanged(Exception):
    """The local entry is not what the plan expected: it changed since the last scan."""


def fs_path(root: Path, tree_path: str) -> Path:
    """Where the tree path ``/a/b`` lives under the synced folder.

    Every path the server sends ends up here, so the path is checked again (the path rules,
    then that the result is inside ``root``): a server cannot make the client touch anything
    outside the synced folder. UnsafePath otherwise.
    """
    try:
        checked = paths.normalize(tree_path)
    except BadPath as e:
        raise UnsafePath(f"refusing a path outside the synced folder's rules: {e.message}") from None
    rel = checked.strip("/")
    if not rel:
        return root
    out = root.joinpath(*rel.split("/"))
    if root not in out.parents:  # cannot happen to a normalised path: a last line of defence
        raise UnsafePath(f"refusing a path outside the synced folder: {tree_path!r}")
    return out


def _same_stat(entry: LocalEntry, st: os.stat_result) -> bool:
    return (entry.size, entry.mtime_ns, entry.inode) == (st.st_size, st.st_mtime_ns, st.st_ino)


def _racy(entry: LocalEntry) -> bool:
    return is_racy(entry.scanned_at, entry.mtime_ns)


def file_matches(
    root: Path, state: SyncState, tree_path: str, expected: str | None, *, rehash: bool = True
) -> bool:
    """True if the local file at ``tree_path`` has content ``expected`` (``None``: nothing is there).

    Without ``rehash``, a file the local tree cannot vouch for by its stat alone
    (racy, or touched) counts as matching instead of being hashed again: for a
    quick check ahead of an action that checks fully again before it takes
    effect (a download checks the file it replaces right before the rename).
    """
    path = fs_path(root, tree_path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return expected is None
    if expected is None or not stat.S_ISREG(st.st_mode):
        return False
    entry = state.local_entry(tree_path)
    if entry is not None and entry.kind == FILE and entry.content_hash == expected and _same_stat(entry, st):
        if not _racy(entry):
            return True
    elif entry is None or entry.kind != FILE or entry.content_hash != expected:
        return False  # the scan saw something else here: let the next scan look again
    if not rehash:
        return True
    known = {b.idx: b for b in state.blocks(tree_path)}
    try:
        return hash_local_file(path, known).content_hash == expected
    except (FileUnstable, FileNotFoundError):
        return False


def check_file(
    root: Path, state: SyncState, tree_path: str, expected: str | None, *, rehash: bool = True
) -> None:
    """:class:`LocalChanged` unless :func:`file_matches`."""
    if not file_matches(root, state, tree_path, expected, rehash=rehash):
        what = "appeared" if expected is None else "changed"
        raise LocalChanged(f"{tree_path} {what} on disk since the last scan; left alone")


# -- creating, renaming, deleting --------------------------------------------------------------


def make_folder(root: Path, tree_path: str) -> LocalEntry:
    """Create the folder (its parent must exist); an existing folder is fine. Returns its row."""
    path = fs_path(root, tree_path)
    try:
        os.mkdir(path)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise LocalChanged(f"{tree_path} exists on disk and is not a folder") from None
    st = os.lstat(path)
    return LocalEntry(tree_path, FOLDER, inode=st.st_ino, scanned_at=time.time())


def make_parents(root: Path, tree_path: str) -> None:
    """Create the folders above ``tree_path`` that are not on disk yet."""
    fs_path(root, tree_path).parent.mkdir(parents=True, exist_ok=True)


def _check_kind(path: Path, tree_path: str, kind: Kind) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise LocalChanged(f"{tree_path} is no longer on disk") from None
    is_kind = stat.S_ISDIR(st.st_mode) if kind == FOLDER else stat.S_ISREG(st.st_mode)
    if not is_kind:
        raise LocalChanged(f"{tree_path} is no longer a {kind} on disk")


def rename(root: Path, src: str, dst: str, kind: Kind) -> None:
    """Rename ``src`` (a ``kind``) to ``dst`` without ever replacing anything at ``dst``.

    A case-only rename of one entry is allowed on a case-insensitive disk, where
    ``dst`` already names ``src`` itself.
    """
    src_path, dst_path = fs_path(root, src), fs_path(root, dst)
    _check_kind(src_path, src, kind)
    if not dst_path.parent.is_dir():
        raise LocalChanged(f"the folder of {dst} is not on disk")
    try:
        rename_noreplace(src_path, dst_path)
    except FileExistsError:
        if not _same_entry(src_path, dst_path):
            raise LocalChanged(f"{dst} exists on disk; {src} was not renamed") from None
        os.rename(src_path, dst_path)  # case-insensitive disk: the same entry under another case


def _same_entry(a: Path, b: Path) -> bool:
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except FileNotFoundError:
        return False


def delete_file(root: Path, state: SyncState, tree_path: str, expected: str | None) -> None:
    """Remove the file if it still has content ``expected``; a missing file is fine."""
    path = fs_path(root, tree_path)
    if not os.path.lexists(path):
        return
    check_file(root, state, tree_path, expected)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@dataclass(frozen=True, slots=True)
class FolderKept:
    """A folder that was not removed because it holds entries the ignore rules keep out of sync."""

    names: tuple[str, ...]


def delete_folder(root: Path, tree_path: str, rules: IgnoreRules) -> FolderKept | None:
    """Remove an empty folder, after clearing built-in junk (``.DS_Store``, our temp files, ...).

    Anything else inside raises :class:`LocalChanged` (the scan will see it),
    except entries ignored by ``.tesseraignore``: those are the user's and stay,
    and so does the folder (:class:`FolderKept`). A missing folder is fine.
    """
    path = fs_path(root, tree_path)
    try:
        with os.scandir(path) as it:
            children = list(it)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise LocalChanged(f"{tree_path} is no longer a folder on disk") from None
    junk, kept = [], []
    for child in children:
        is_dir = child.is_dir(follow_symlinks=False)
        if is_builtin_ignored(child.name) and not is_dir:
            junk.append(child.path)
        elif rules.is_ignored(paths.join(tree_path, child.name), is_dir):
            kept.append(child.name)
        else:
            raise LocalChanged(f"{tree_path} is not empty on disk ({child.name} is in it)")
    if kept:
        return FolderKept(tuple(sorted(kept)))
    for p in junk:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise LocalChanged(f"{tree_path} got new entries on disk") from None
        raise
    return None


# -- downloads -----------------------------------------------------------------------------------


def find_local_block(root: Path, state: SyncState, block: RemoteBlock) -> LocalBlock | None:
    """Where a local file held this block's SHA-256 at the last scan, or None.

    The download verifies the bytes as it copies them (the file may have changed
    since) by the xxh3-64 the block was indexed with: the scan itself trusts a
    matching xxh3 to keep a block's SHA-256 (see client.sync.local.hashing). Where the
    file's row is not racy, the block comes with the row's stamp, and a copy
    from a file that keeps that stamp is trusted as the scan trusts an
    unchanged file (see :meth:`client.transfer.download.temp.TempFile.copy_verified`).
    """
    found = state.find_local_block(block.sha256)
    if found is None:
        return None
    stamp = None
    if (
        found.size is not None
        and found.mtime_ns is not None
        and found.inode is not None
        and not is_racy(found.scanned_at, found.mtime_ns)
    ):
        stamp = FileStamp(found.size, found.mtime_ns, found.inode)
    return LocalBlock(fs_path(root, found.path), found.idx * BLOCK_SIZE, found.xxh3_64, stamp)


def index_block(block: RemoteBlock, xxh3_64: str) -> BlockRecord:
    """The block index row of a downloaded block (its SHA-256 was verified; ``xxh3_64`` is of its bytes)."""
    return BlockRecord(block.index, xxh3_64, block.sha256, block.md5, block.size)


def downloaded_entry(tree_path: str, content_hash: str, st: os.stat_result) -> LocalEntry:
    """The local tree row of a file the executor just wrote."""
    return LocalEntry(tree_path, FILE, st.st_size, st.st_mtime_ns, st.st_ino, content_hash, time.time())


def remove_temp_files(root: Path, rules: IgnoreRules) -> list[Path]:
    """Remove download temp files (``.tessera-tmp-*``) left by a killed daemon; returns them.

    Only regular files are removed; symlinks are never followed, and the state
    folder (if it lies inside the synced folder) is skipped.
    """
    removed: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel = Path(folder).relative_to(root).as_posix()
        dirs[:] = [d for d in dirs if not _is_state_dir(rules, rel, d)]
        for name in files:
            if not name.startswith(TEMP_PREFIX):
                continue
            p = Path(folder) / name
            try:
                if stat.S_ISREG(os.lstat(p).st_mode):
                    os.unlink(p)
                    removed.append(p)
            except FileNotFoundError:
                pass
    return removed


def _is_state_dir(rules: IgnoreRules, rel_folder: str, name: str) -> bool:
    if rules.state_dir is None:
        return False
    rel = name if rel_folder in ("", ".") else f"{rel_folder}/{name}"
    return rel == rules.state_dir


# -- rename without replacing -----------------------------------------------------------------------


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename, raising FileExistsError if ``dst`` exists (atomically where the OS allows)."""
    if rename_noreplace_atomic(src, dst):
        return
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "File exists", str(dst))
    os.rename(src, dst)
