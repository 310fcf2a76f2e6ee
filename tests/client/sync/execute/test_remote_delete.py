"""Remote deletions never take along what another device committed meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from client import TesseraClient
from client.sync.execute.remote_delete import RemoteChanged, RemoteDeleter
from client.sync.plan.reconcile import DeleteRemote
from client.sync.plan.tree import FILE, FOLDER
from client.sync.remote.feed import PendingUploads, pull
from client.sync.state.database import SyncState
from protocol.errors import BadRequest, Conflict, NotFound
from tests.client.conftest import FAST_RETRY


async def _offload(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


@pytest.fixture
async def other(servers, token) -> AsyncIterator[TesseraClient]:
    """Another device of the same user."""
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
def state(tmp_path) -> SyncState:
    s = SyncState(tmp_path / "state")
    yield s
    s.close()


async def _put(client: TesseraClient, tmp_path, path: str, data: bytes):
    src = tmp_path / "src"
    src.write_bytes(data)
    return (await client.upload_file(src, path)).metadata


async def _read(client: TesseraClient, tmp_path, path: str) -> bytes:
    dst = tmp_path / "dst"
    await client.download_file(path, dst)
    return dst.read_bytes()


async def test_a_deletion_planned_on_stale_knowledge_is_refused(client, other, state, tmp_path):
    await _put(client, tmp_path, "/docs/a.txt", b"a1")
    await pull(client, state, PendingUploads(), _offload)
    deleter = RemoteDeleter(client, state, _offload, "laptop")

    await _put(other, tmp_path, "/docs/a.txt", b"a2 from the other device")
    with pytest.raises(RemoteChanged):
        await deleter.delete(DeleteRemote("/docs/a.txt", FILE))
    with pytest.raises(RemoteChanged):
        await deleter.delete(DeleteRemote("/docs", FOLDER))
    assert await _read(client, tmp_path, "/docs/a.txt") == b"a2 from the other device"

    await pull(client, state, PendingUploads(), _offload)  # now it is known: the deletion goes ahead
    await deleter.delete(DeleteRemote("/docs", FOLDER))
    with pytest.raises(NotFound):
        await client.meta("/docs")


async def test_what_is_committed_during_the_deletion_is_restored(client, other, state, tmp_path, monkeypatch):
    await _put(client, tmp_path, "/docs/old.txt", b"old")
    await _put(client, tmp_path, "/file.txt", b"v1")
    await pull(client, state, PendingUploads(), _offload)
    deleter = RemoteDeleter(client, state, _offload, "laptop")
    real_delete = client.delete

    def commit_before_delete(path: str, data: bytes):
        async def delete(target: str, if_rev: int | None = None):
            # another device commits right between the check and the delete
            await _put(other, tmp_path, path, data)
            return await real_delete(target, if_rev=if_rev)

        return delete

    monkeypatch.setattr(client, "delete", commit_before_delete("/docs/new.txt", b"new, at the last moment"))
    await deleter.delete(DeleteRemote("/docs", FOLDER))
    assert [e.name async for e in client.list_entries("/docs")] == ["new.txt"]  # old.txt went as planned
    assert await _read(client, tmp_path, "/docs/new.txt") == b"new, at the last moment"

    await pull(client, state, PendingUploads(), _offload)
    monkeypatch.setattr(client, "delete", commit_before_delete("/file.txt", b"v2, at the last moment"))
    # a file is deleted only at the revision the plan saw: the server refuses, nothing is deleted
    with pytest.raises(RemoteChanged):
        await deleter.delete(DeleteRemote("/file.txt", FILE))
    assert await _read(client, tmp_path, "/file.txt") == b"v2, at the last moment"
    history = await client.revisions("/file.txt")
    assert not history.deleted and len(history.revisions) == 2  # never deleted, not even for a moment


async def test_a_conditional_delete_takes_only_the_revision_it_names(client, tmp_path):
    r1 = await _put(client, tmp_path, "/c.txt", b"one")
    r2 = await _put(client, tmp_path, "/c.txt", b"two")
    with pytest.raises(Conflict):
        await client.delete("/c.txt", if_rev=r1.rev)
    assert await _read(client, tmp_path, "/c.txt") == b"two"
    await client.mkdir("/dir")
    with pytest.raises(Conflict):
        await client.delete("/dir", if_rev=r2.rev)  # a folder is no file at that revision
    for bad in (0, "2", True):
        with pytest.raises(BadRequest):
            await client.call("POST", "/v1/files/delete", body={"path": "/c.txt", "if_rev": bad}, idempotent=False)
    gone = await client.delete("/c.txt", if_rev=r2.rev)
    assert gone.path == "/c.txt"
    with pytest.raises(NotFound):
        await client.meta("/c.txt")
