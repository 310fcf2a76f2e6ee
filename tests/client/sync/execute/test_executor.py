"""The executor's safety checks: nothing the user wrote is overwritten, removed or replaced."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client import TesseraClient
from client.sync.execute.executor import Executor, _deferrable_mkdirs
from client.sync.execute.results import Outcome
from client.sync.local.ignore import IgnoreRules
from client.sync.local.scan import scan
from client.sync.local.watch import OwnWrites
from client.sync.plan.reconcile import DeleteLocal, Download, MkdirRemote, MoveLocal, MoveRemote, Upload
from client.sync.plan.tree import FILE, FOLDER
from client.sync.remote.feed import PendingUploads
from client.sync.settings import SyncSettings
from client.sync.state.database import SyncState
from client.sync.status import SyncStatus
from client.transfer.download.file import TEMP_PREFIX
from client.transfer.filehash import hash_file
from tests.client.conftest import FAST_RETRY, PASSWORD, USER
from tests.client.sync.sync_harness import until


@dataclass
class Rig:
    root: Path
    state: SyncState
    client: TesseraClient
    executor: Executor
    rules: IgnoreRules
    own_writes: OwnWrites = field(default_factory=OwnWrites)

    async def scan(self) -> None:
        self.rules = await asyncio.to_thread(IgnoreRules.load, self.root)
        await scan(self.root, self.state, self.rules)

    async def run(self, action) -> Outcome:
        [result] = await self.executor.run([action])
        return result.outcome

    def write(self, rel: str, data: bytes) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return p


@pytest.fixture
async def rig(counted, tmp_path) -> AsyncIterator[Rig]:
    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    token = await servers.login(USER, PASSWORD)
    root = tmp_path / "folder"
    root.mkdir()
    state = SyncState(tmp_path / "state")

    async def offload(fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        rig = Rig(root, state, client, None, IgnoreRules())  # type: ignore[arg-type]
        rig.executor = Executor(
            root,
            state,
            client,
            device="rig",
            settings=SyncSettings(),
            status=SyncStatus(root=str(root)),
            pending=PendingUploads(),
            rules=lambda: rig.rules,
            offload=offload,
            own_writes=rig.own_writes,
        )
        yield rig
    state.close()


async def _remote(rig: Rig, rel: str, data: bytes, tmp: Path) -> tuple[str, int]:
    src = tmp / "upload-src"
    src.write_bytes(data)
    result = await rig.client.upload_file(src, "/" + rel)
    assert result.metadata.content_hash is not None and result.metadata.rev is not None
    return result.metadata.content_hash, result.metadata.rev


def _temp_files(root: Path) -> list[str]:
    return [n for _, _, files in os.walk(root) for n in files if n.startswith(TEMP_PREFIX)]


async def test_a_download_never_replaces_a_file_changed_since_the_scan(rig, tmp_path):
    h_old = hash_file(rig.write("doc.txt", b"old")).content_hash
    await rig.scan()
    h_new, rev = await _remote(rig, "doc.txt", b"new from the server", tmp_path)
    rig.write("doc.txt", b"edited locally, not scanned yet")
    assert await rig.run(Download("/doc.txt", h_new, rev, h_old)) == Outcome.LOCAL_CHANGED
    assert (rig.root / "doc.txt").read_bytes() == b"edited locally, not scanned yet"
    assert _temp_files(rig.root) == []

    await rig.scan()  # the plan would now see a conflict; with the file as scanned, it goes through
    h_edit = hash_file(rig.root / "doc.txt").content_hash
    assert await rig.run(Download("/doc.txt", h_new, rev, h_edit)) == Outcome.DONE
    assert (rig.root / "doc.txt").read_bytes() == b"new from the server"
    assert rig.state.node("synced", "/doc.txt").rev == rev


async def test_a_racy_edit_that_keeps_size_and_mtime_is_still_never_replaced(rig, tmp_path):
    """The quick check before a download trusts the stat; the check before the rename hashes."""
    doc = rig.write("doc.txt", b"old!")
    h_old = hash_file(doc).content_hash
    await rig.scan()  # just written: the row is racy
    h_new, rev = await _remote(rig, "doc.txt", b"new from the server", tmp_path)
    st = doc.stat()
    doc.write_bytes(b"mine")  # same size, and the same mtime put back
    os.utime(doc, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert await rig.run(Download("/doc.txt", h_new, rev, h_old)) == Outcome.LOCAL_CHANGED
    assert doc.read_bytes() == b"mine"
    assert _temp_files(rig.root) == []


async def test_a_file_changed_while_it_downloads_is_kept(rig, counted, tmp_path):
    big = os.urandom(3 * 4 * 1024 * 1024)
    h_old = hash_file(rig.write("big.bin", b"old content")).content_hash
    await rig.scan()
    h_new, rev = await _remote(rig, "big.bin", big, tmp_path)
    counted.block_get_delay = 0.3
    download = asyncio.create_task(rig.run(Download("/big.bin", h_new, rev, h_old)))
    await until(lambda: bool(_temp_files(rig.root)), "the download to start", within=30)
    rig.write("big.bin", b"saved by an editor during the download")
    assert await download == Outcome.LOCAL_CHANGED
    assert (rig.root / "big.bin").read_bytes() == b"saved by an editor during the download"
    assert _temp_files(rig.root) == []


async def test_a_download_tells_the_watcher_its_rename_is_ours(rig, tmp_path):
    """The watcher's event for the daemon's own rename is not news (no rescan and re-hash)."""
    h_new, rev = await _remote(rig, "doc.txt", b"from the server", tmp_path)
    await rig.scan()
    target = str(rig.root / "doc.txt")
    assert not rig.own_writes.consume(target)
    assert await rig.run(Download("/doc.txt", h_new, rev, None)) == Outcome.DONE
    assert rig.own_writes.consume(target)
    assert not rig.own_writes.consume(target)  # once only: a later edit wakes the daemon


async def test_transfers_at_once_are_bounded_over_concurrent_runs(rig):
    """A round and the runs started beside it (client.sync.alongside) share the transfer limit."""
    executor = Executor(
        rig.root,
        rig.state,
        rig.client,
        device="rig",
        settings=SyncSettings(transfers=2),
        status=SyncStatus(root=str(rig.root)),
        pending=PendingUploads(),
        rules=lambda: rig.rules,
        offload=lambda fn, *a, **kw: asyncio.to_thread(fn, *a, **kw),
    )
    running, most = 0, 0
    release = asyncio.Event()

    async def held(action):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    executor._download = held  # type: ignore[method-assign]
    runs = [
        asyncio.create_task(executor.run([Download(f"/{r}-{i}.bin", "0" * 64, 1, None) for i in range(3)]))
        for r in "ab"
    ]
    await until(lambda: running == 2, "two transfers to start", within=10)
    await asyncio.sleep(0.2)  # a third would have started by now
    assert most == 2
    release.set()
    results = [r for run in await asyncio.gather(*runs) for r in run]
    assert len(results) == 6 and all(r.outcome == Outcome.DONE for r in results)
    assert most == 2


async def test_a_download_never_replaces_a_file_that_appeared(rig, tmp_path):
    h_new, rev = await _remote(rig, "new.txt", b"from the server", tmp_path)
    await rig.scan()
    rig.write("new.txt", b"created locally meanwhile")
    assert await rig.run(Download("/new.txt", h_new, rev, None)) == Outcome.LOCAL_CHANGED
    assert (rig.root / "new.txt").read_bytes() == b"created locally meanwhile"


async def test_a_download_copies_blocks_it_has_locally(rig, counted, tmp_path):
    block = 4 * 1024 * 1024
    data = os.urandom(2 * block + 10)
    rig.write("a.bin", data)
    await rig.scan()
    h, rev = await _remote(rig, "copy.bin", data[:block] + b"x" * 10 + data[block + 10 :], tmp_path)
    counted.reset()
    assert await rig.run(Download("/copy.bin", h, rev, None)) == Outcome.DONE
    assert counted.block["GET /v1/blocks/{block_id}"] == 1  # blocks 0 and 2 came from a.bin
    assert hash_file(rig.root / "copy.bin").content_hash == h
    await rig.scan()
    assert [b.sha256 for b in rig.state.blocks("/copy.bin")] == [
        b.sha256 for b in hash_file(rig.root / "copy.bin").blocks
    ]


async def test_deletes_keep_changed_files_and_non_empty_folders(rig):
    h = hash_file(rig.write("d/x.txt", b"x")).content_hash
    rig.write("d/.DS_Store", b"junk")
    rig.write("keep/build/out.o", b"ignored, but the user's")
    rig.write(".tesseraignore", b"build/\n")
    await rig.scan()
    rig.write("d/x.txt", b"x, edited")
    assert await rig.run(DeleteLocal("/d/x.txt", FILE, h)) == Outcome.LOCAL_CHANGED
    assert await rig.run(DeleteLocal("/d", FOLDER, None)) == Outcome.LOCAL_CHANGED
    assert (rig.root / "d/x.txt").read_bytes() == b"x, edited"

    await rig.scan()
    h2 = hash_file(rig.root / "d/x.txt").content_hash
    assert await rig.run(DeleteLocal("/d/x.txt", FILE, h2)) == Outcome.DONE
    assert await rig.run(DeleteLocal("/d", FOLDER, None)) == Outcome.DONE  # .DS_Store is junk
    assert not (rig.root / "d").exists()
    assert await rig.run(DeleteLocal("/keep", FOLDER, None)) == Outcome.DONE  # kept: ignored entries
    assert (rig.root / "keep/build/out.o").exists()


async def test_renames_never_replace_anything(rig):
    rig.write("a.txt", b"a")
    rig.write("b.txt", b"b")
    await rig.scan()
    h = hash_file(rig.root / "a.txt").content_hash
    assert await rig.run(MoveLocal("/a.txt", "/b.txt", FILE, h)) == Outcome.LOCAL_CHANGED
    assert (rig.root / "a.txt").read_bytes() == b"a" and (rig.root / "b.txt").read_bytes() == b"b"
    assert await rig.run(MoveLocal("/a.txt", "/c.txt", FILE, h)) == Outcome.DONE
    assert rig.state.node("local", "/c.txt") is not None and rig.state.node("local", "/a.txt") is None


async def test_uploads_check_the_file_and_the_revision(rig, tmp_path):
    h1 = hash_file(rig.write("u.txt", b"one")).content_hash
    await rig.scan()
    rig.write("u.txt", b"two, not scanned")
    assert await rig.run(Upload("/u.txt", h1, None)) == Outcome.LOCAL_CHANGED
    await rig.scan()
    h2 = hash_file(rig.root / "u.txt").content_hash
    await _remote(rig, "u.txt", b"someone else's", tmp_path)
    assert await rig.run(Upload("/u.txt", h2, None)) == Outcome.REMOTE_CHANGED  # add onto another file
    meta = await rig.client.meta("/u.txt")
    assert await rig.run(Upload("/u.txt", h2, meta.rev)) == Outcome.DONE
    assert rig.state.node("remote", "/u.txt").content_hash == h2


async def test_names_the_server_refuses_are_refused_not_failed(rig):
    [result] = await rig.executor.run([MkdirRemote("/" + "n" * 300)])
    assert result.outcome == Outcome.REFUSED and result.code == "bad_path"


async def test_new_folders_with_uploads_below_are_created_after_the_uploads(rig, caplog):
    uploads = []
    for i in range(10):  # enough to go in one batch
        p = rig.write(f"new/sub/f{i}.txt", f"file {i}".encode())
        uploads.append(Upload(f"/new/sub/f{i}.txt", hash_file(p).content_hash, None))
    (rig.root / "empty").mkdir()
    await rig.scan()
    caplog.set_level("INFO", logger="client")
    actions = [MkdirRemote("/empty"), MkdirRemote("/new"), MkdirRemote("/new/sub"), *uploads]
    results = await rig.executor.run(actions)
    assert sorted(r.action.path for r in results) == sorted(a.path for a in actions)
    assert {r.outcome for r in results} == {Outcome.DONE}
    said = [r.getMessage() for r in caplog.records]
    batch = next(i for i, m in enumerate(said) if m.startswith("uploaded 10 of 10 small files"))
    # the empty folder first; the commit made /new and /new/sub, found there afterwards
    assert said.index("created folder /empty on the server") < batch
    assert (
        batch
        < said.index("created folder /new on the server")
        < said.index("created folder /new/sub on the server")
    )
    for path in ("/empty", "/new", "/new/sub"):
        assert rig.state.node("remote", path).kind == FOLDER
        assert rig.state.node("synced", path).kind == FOLDER
    assert (await rig.client.meta("/new/sub/f3.txt")).size == len(b"file 3")


def test_folder_creations_wait_only_when_nothing_else_needs_them():
    up = Upload("/a/b/f.txt", "h", None)
    a, b, c = MkdirRemote("/a"), MkdirRemote("/a/b"), MkdirRemote("/c")
    assert _deferrable_mkdirs([a, b, c, up]) == {a, b}
    # /a/e is created in its phase (nothing to upload below it), so /a must exist before it
    e = MkdirRemote("/a/e")
    assert _deferrable_mkdirs([a, b, e, up]) == {b}
    # a move may need the new folders
    move = MoveRemote("/x.txt", "/a/x.txt", FILE, "h")
    assert _deferrable_mkdirs([a, b, move, up]) == set()
