"""The sync daemon end to end: real servers, real daemons (in-process), real folders."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from client.sync.errors import FolderGone, SyncLocked
from client.sync.plan.reconcile import EMPTY_CONTENT_HASH
from client.sync.status import read_status
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import USER, write_random

from .sync_harness import (  # noqa: F401
    counted_fleet_fixture,
    eventually,
    fleet_fixture,
    until,
)

MiB = 1024 * 1024


def _blocks(counter, method: str) -> int:
    return sum(n for route, n in counter.items() if route.startswith(f"{method} /v1/blocks"))


async def test_every_kind_of_change_propagates_both_ways(counted_fleet, counted):
    fleet = counted_fleet
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")

    # laptop -> desktop: files, nested folders, an empty folder, an empty file, a 20 MiB file
    await a.write("notes.txt", b"first version")
    await a.write("Projects/site/index.html", b"<h1>hello</h1>")
    await a.write("Projects/site/css/style.css", b"body {}")
    await a.write("empty.txt", b"")
    await asyncio.to_thread((a.root / "Empty folder").mkdir)
    await asyncio.to_thread(write_random, a.path("big.bin"), 20 * MiB, 7)
    snap = await fleet.converged()
    assert snap["empty.txt"] == EMPTY_CONTENT_HASH
    assert snap["Empty folder"] is None
    assert await b.read("Projects/site/css/style.css") == b"body {}"
    assert await b.read("big.bin") == await a.read("big.bin")

    # desktop -> laptop: renames of a file and a folder move on the server, no bytes sent
    counted.reset()
    await asyncio.to_thread(os.rename, b.path("Projects/site"), b.path("Projects/web"))
    await asyncio.to_thread((b.root / "archive").mkdir)
    await asyncio.to_thread(os.rename, b.path("big.bin"), b.path("archive/big.bin"))
    snap = await fleet.converged()
    assert "Projects/web/css/style.css" in snap and "Projects/site" not in snap
    assert "archive/big.bin" in snap and "big.bin" not in snap
    assert _blocks(counted.block, "PUT") == 0 and _blocks(counted.block, "GET") == 0, counted.block

    # desktop -> laptop: modify, delete a file, delete a folder with everything in it
    await b.write("notes.txt", b"second version, from the desktop")
    await asyncio.to_thread(os.remove, b.path("empty.txt"))
    await asyncio.to_thread(shutil.rmtree, b.path("Projects"))
    snap = await fleet.converged()
    assert await a.read("notes.txt") == b"second version, from the desktop"
    assert not any(p.startswith("Projects") for p in snap) and "empty.txt" not in snap

    # laptop -> desktop: a change inside the big file, a new nested folder, a folder removed
    await asyncio.to_thread(_overwrite, a.path("archive/big.bin"), 9 * MiB, b"changed" * 100)
    await asyncio.to_thread(os.makedirs, a.path("x/y/z"))
    await asyncio.to_thread(os.rmdir, a.path("Empty folder"))
    snap = await fleet.converged()
    assert snap["x/y/z"] is None and "Empty folder" not in snap
    assert await b.read("archive/big.bin") == await a.read("archive/big.bin")

    await a.stop()
    await b.stop()


def _overwrite(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


async def test_concurrent_edits_keep_both_versions_on_both_sides(fleet):
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await a.write("report.txt", b"original")
    await fleet.converged()
    await a.stop()
    await b.stop()

    await a.write("report.txt", b"edited on the laptop")
    await b.write("report.txt", b"edited on the desktop")
    a.start()
    await until(lambda: a.idle, "the laptop to upload its edit")
    b.start()
    snap = await fleet.converged()

    names = sorted(snap)
    copies = [n for n in names if "conflicted copy from desktop" in n]
    assert names == sorted(["report.txt", *copies]) and len(copies) == 1, names
    assert await a.read("report.txt") == b"edited on the laptop"
    assert await a.read(copies[0]) == b"edited on the desktop"
    assert await b.read(copies[0]) == b"edited on the desktop"
    status = b.daemon.status.to_json()
    assert status["conflicts"]["paths"] == ["/" + copies[0]]


async def test_a_stopped_device_catches_up_and_loses_nothing(fleet):
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await a.write("shared/a.txt", b"a1")
    await a.write("shared/b.txt", b"b1")
    await a.write("shared/c.txt", b"c1")
    await a.write("old.txt", b"old")
    await fleet.converged()
    await a.stop()

    # while the laptop is off: both sides change different things
    await a.write("shared/a.txt", b"a2 offline on the laptop")
    await a.write("laptop-only/new.txt", b"new on the laptop")
    await asyncio.to_thread(os.remove, a.path("old.txt"))
    await b.write("shared/b.txt", b"b2 on the desktop")
    await asyncio.to_thread(os.remove, b.path("shared/c.txt"))
    await b.write("desktop-only.txt", b"new on the desktop")
    await until(lambda: b.idle, "the desktop to upload")

    a.start()
    snap = await fleet.converged()
    assert sorted(snap) == sorted(
        ["shared", "shared/a.txt", "shared/b.txt", "laptop-only", "laptop-only/new.txt", "desktop-only.txt"]
    )
    assert await b.read("shared/a.txt") == b"a2 offline on the laptop"
    assert await a.read("shared/b.txt") == b"b2 on the desktop"
    assert await b.read("laptop-only/new.txt") == b"new on the laptop"
    assert await a.read("desktop-only.txt") == b"new on the desktop"


async def test_a_local_delete_of_a_file_changed_remotely_restores_it(fleet):
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await a.write("doc.txt", b"v1")
    await fleet.converged()
    await a.stop()
    await asyncio.to_thread(os.remove, a.path("doc.txt"))
    await b.write("doc.txt", b"v2 from the desktop")
    await until(lambda: b.idle, "the desktop to upload")
    a.start()
    snap = await fleet.converged()
    assert list(snap) == ["doc.txt"]
    assert await a.read("doc.txt") == b"v2 from the desktop"


async def test_a_modified_file_uploads_only_changed_blocks_and_downloads_reuse_local_ones(
    counted_fleet, counted
):
    fleet = counted_fleet
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await asyncio.to_thread(write_random, a.path("data.bin"), 3 * BLOCK_SIZE + 1000, 3)
    await fleet.converged()
    stored = await counted.stored_blocks()
    assert stored == 4

    counted.reset()
    await asyncio.to_thread(_overwrite, a.path("data.bin"), BLOCK_SIZE + 10, b"new bytes")
    await fleet.converged()
    assert await counted.stored_blocks() == stored + 1  # one new block on the server
    assert counted.block["PUT /v1/blocks/{block_id}"] == 1
    assert counted.block["GET /v1/blocks/{block_id}"] == 1  # the desktop copied the other three
    assert await b.read("data.bin") == await a.read("data.bin")


async def test_a_downloaded_file_is_rescanned_once_it_is_no_longer_racy(fleet, monkeypatch):
    """Written just now, a download's row cannot vouch for the file by its stat; a rescan after
    the racy window hashes it once while all is quiet, so the next download of it does not."""
    from client.sync.local import scan as sync_scan
    from client.sync.local.scan import is_racy

    # the 2 s window of whole-second file systems, so that "just downloaded" is surely racy
    monkeypatch.setattr(sync_scan, "FINE_RACY_WINDOW_NS", sync_scan.RACY_WINDOW_NS)
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await a.write("doc.txt", b"version one")
    await fleet.converged()

    def settled() -> bool:
        entry = b.daemon.state.local_entry("/doc.txt")
        assert entry is not None and entry.mtime_ns is not None
        return not is_racy(entry.scanned_at, entry.mtime_ns)

    assert not settled()
    # well before the periodic rescan (20 s in these tests), and with nothing else happening
    await until(settled, "B to rescan the downloaded file", within=10)


async def test_a_synced_file_keeps_its_modification_time_on_every_device(fleet):
    """Small files (the batch path) and a big one (the single path) arrive with the time they
    have where they were written, not when they arrived."""
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    times = {"photos/2019/beach.jpg": 1_559_390_400_250_000_000, "notes.txt": 1_700_000_000_000_001_000,
             "video.bin": 1_600_000_000_500_000_000}  # fmt: skip
    staging = fleet.tmp_path / "staging"
    staging.mkdir()
    for i, (rel, t) in enumerate(times.items()):
        src = staging / f"f{i}"
        if rel == "video.bin":
            write_random(src, BLOCK_SIZE + 100, seed=9)
        else:
            src.write_bytes(rel.encode())
        os.utime(src, ns=(t, t))
        a.path(rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, a.path(rel))  # appears whole, with its old time
    await fleet.converged()
    for rel, t in times.items():
        assert abs(b.path(rel).stat().st_mtime_ns - t) < 2_000, rel  # the server keeps microseconds
        assert a.path(rel).stat().st_mtime_ns == t, rel  # uploading leaves the original alone


async def test_ignored_entries_symlinks_and_bad_names_stay_local(fleet):
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await a.write(".tesseraignore", b"*.log\nbuild/\n")
    await a.write("app.log", b"log lines")
    await a.write("build/out.o", b"object code")
    await a.write("src/main.c", b"int main;")
    await a.write("editor.swp", b"swap")
    await a.write("bad name ", b"trailing space")
    await asyncio.to_thread(os.symlink, "src/main.c", a.path("link.c"))

    async def b_has_source() -> bool:
        return b.path("src/main.c").exists() and a.idle and b.idle

    await eventually(b_has_source, "the source file to reach the desktop")
    assert b.path(".tesseraignore").exists()
    present = await asyncio.to_thread(os.listdir, b.root)
    assert sorted(present) == [".tesseraignore", "src"]
    warnings = {w["path"]: w["code"] for w in a.daemon.status.to_json()["warnings"]}
    assert warnings == {"/bad name ": "bad_name", "/link.c": "symlink"}

    # the desktop's ignored files are its own, too
    await b.write("debug.log", b"desktop log")
    await b.write("src/util.c", b"int util;")
    await until(lambda: a.path("src/util.c").exists(), "util.c to reach the laptop")
    assert not a.path("debug.log").exists()


async def test_uploads_in_progress_elsewhere_are_shown_but_not_downloaded(fleet, servers):
    from client import TesseraClient
    from protocol.hashing import hash_block

    a = await fleet.add("laptop")
    await fleet.converged()
    data = b"half-uploaded"
    async with TesseraClient(servers.meta_url, a.token) as other:
        await other.create_upload("/incoming.bin", len(data), [hash_block(data)])

    async def shown() -> bool:
        return a.daemon.status.to_json()["elsewhere"]["paths"] == ["/incoming.bin"]

    await eventually(shown, "the pending upload to show in the status")
    assert not a.path("incoming.bin").exists()


async def test_status_file_and_one_daemon_per_folder(fleet):
    a = await fleet.add("laptop")
    await a.write("x.txt", b"x")
    await fleet.converged()
    status_file = a.daemon.files.status

    async def written() -> bool:
        doc = await asyncio.to_thread(read_status, status_file)
        return doc is not None and doc["phase"] == "idle" and doc["last_sync"] is not None

    await eventually(written, "the status file to say idle")
    doc = await asyncio.to_thread(read_status, status_file)
    assert doc["root"] == str(a.root.resolve()) and doc["user"] == USER and doc["device"] == "laptop"

    from client.sync.daemon import SyncDaemon

    second = SyncDaemon(a.root, a.client, config_dir=a.config_dir, device="again")
    with pytest.raises(SyncLocked):
        await second.run()

    await a.stop()
    doc = await asyncio.to_thread(read_status, status_file)
    assert doc["phase"] == "stopped"


async def test_failed_uploads_are_reported_and_retried(fleet, servers):
    a = await fleet.add("laptop")
    await fleet.converged()
    await servers.pool.execute("UPDATE users SET quota_bytes = 10")
    await a.write("too-big.txt", b"more than ten bytes")

    async def reported() -> bool:
        errors = a.daemon.status.to_json()["errors"]
        return [(e["path"], e["code"]) for e in errors] == [("/too-big.txt", "quota_exceeded")]

    await eventually(reported, "the quota error to be reported")
    await servers.pool.execute("UPDATE users SET quota_bytes = NULL")
    snap = await fleet.converged()
    assert "too-big.txt" in snap and a.daemon.status.to_json()["errors"] == []


async def test_many_small_files_go_up_and_down_in_batches(counted_fleet, counted):
    fleet = counted_fleet
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await fleet.converged()
    counted.reset()

    def make() -> None:
        for i in range(60):
            p = a.path(f"many/{i % 3}/f{i:02d}.txt")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(f"small file {i}\n".encode() * (i + 1))

    await asyncio.to_thread(make)
    snap = await fleet.converged()
    assert sum(1 for p in snap if p.startswith("many/") and p.endswith(".txt")) == 60
    assert counted.meta["POST /v1/uploads/batch"] >= 1
    assert counted.meta["POST /v1/uploads"] < 20, counted.meta  # most of them went in batches
    assert await b.read("many/2/f59.txt") == b"small file 59\n" * 60
    # and came down in batches: a block list and a block request for many files at once
    assert counted.meta["POST /v1/files/blocks_batch"] >= 1
    assert counted.block["POST /v1/blocks/get_batch"] >= 1
    assert counted.meta["GET /v1/files/blocks"] < 20, counted.meta


async def test_a_folder_renamed_during_a_download_keeps_no_temp_file(counted_fleet, counted):
    fleet = counted_fleet
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await asyncio.to_thread((b.root / "inbox").mkdir)
    await fleet.converged()
    counted.block_get_delay = 0.3
    await asyncio.to_thread(write_random, a.path("inbox/big.bin"), 3 * BLOCK_SIZE, 11)

    def downloading() -> bool:
        return any(n.startswith(".tessera-tmp-") for n in os.listdir(b.root / "inbox"))

    await until(downloading, "the desktop to start downloading")
    await asyncio.to_thread(os.rename, b.path("inbox"), b.path("renamed"))  # the temp file goes along
    counted.block_get_delay = 0.0
    snap = await fleet.converged()
    assert not [p for p in snap if ".tessera-tmp-" in p]
    # a folder move is mkdir + file moves + delete; the file new on the server keeps the old folder
    assert snap == {"renamed": None, "inbox": None, "inbox/big.bin": snap["inbox/big.bin"]}


async def test_a_replaced_folder_stops_the_sync_instead_of_deleting_everything(fleet):
    a = await fleet.add("laptop")
    await a.write("precious.txt", b"keep me")
    await fleet.converged()

    def replace_folder() -> None:  # as when a disk is unmounted under its mount point
        os.rename(a.root, a.root.with_name("elsewhere"))
        a.root.mkdir()

    await asyncio.to_thread(replace_folder)
    a.daemon.request_rescan()
    task, a.task = a.task, None
    with pytest.raises(FolderGone):
        await asyncio.wait_for(task, 60)
    assert [e.name async for e in a.client.list_entries("/")] == ["precious.txt"]
    doc = await asyncio.to_thread(read_status, a.daemon.files.status)
    assert doc["phase"] == "stopped" and doc["last_error"]["code"] == "folder_gone"
