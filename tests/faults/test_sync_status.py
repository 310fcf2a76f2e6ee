"""``tessera status`` tells the truth about the link to the server: offline while the metadata
server is down, an error while its database is away, and neither once they are back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from client.cli.sync_view import folder_status, phase_text
from client.sync.daemon import SyncDaemon
from client.sync.settings import SyncSettings
from client.sync.status import ONLINE, SERVER_ERROR, UNREACHABLE
from tests.conftest import eventually
from tests.faults.conftest import USER

SETTINGS = SyncSettings(retry_base=0.1, retry_max=0.5, longpoll_timeout=30, watch=False)


async def _daemon(stack, tmp_path: Path):
    root = tmp_path / "folder"
    root.mkdir()
    (root / "a.txt").write_bytes(b"hello")
    client = stack.client()
    await client.__aenter__()
    daemon = SyncDaemon(root, client, config_dir=tmp_path / "config", device="d", settings=SETTINGS, user=USER)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))

    async def close() -> None:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        finally:
            await client.__aexit__(None, None, None)

    return daemon, close


def _shown(daemon: SyncDaemon) -> str:
    return phase_text(daemon.status.to_json(), True)


async def test_status_is_offline_while_the_server_is_down_and_clears(stack, tmp_path):
    daemon, close = await _daemon(stack, tmp_path)
    try:
        async def up_to_date() -> bool:
            return daemon.idle and _shown(daemon) == "up to date"

        await eventually(up_to_date, "the first sync", within=30)
        assert daemon.status.connection == {"state": ONLINE}
        await stack.meta.stop()

        async def offline() -> bool:
            return (daemon.status.connection or {}).get("state") == UNREACHABLE

        await eventually(offline, "the daemon to see the server gone", within=30)
        assert _shown(daemon).startswith("offline: cannot reach the server since")
        assert "  server: cannot connect to" in folder_status(daemon.status.to_json(), True)

        await stack.meta.start()

        async def back() -> bool:
            return daemon.status.connection == {"state": ONLINE} and _shown(daemon) == "up to date"

        await eventually(back, "the daemon to see the server back", within=30)
        # well before the long-poll it holds now could have ended
        assert daemon.status.last_error is None
        shown = folder_status(daemon.status.to_json(), True)
        assert "error" not in shown and "server:" not in shown
    finally:
        await close()


async def test_status_shows_a_server_error_while_the_database_is_away(stack, tmp_path, pg_template):
    daemon, close = await _daemon(stack, tmp_path)
    try:
        async def up_to_date() -> bool:
            return daemon.idle and _shown(daemon) == "up to date"

        await eventually(up_to_date, "the first sync", within=30)
        # the database refuses the servers' connections: every request that needs it gets 503
        dbname = stack.config.database_url.split("?")[0].rsplit("/", 1)[1]
        admin = await asyncpg.connect(pg_template)  # the cluster's maintenance database
        try:
            await admin.execute(f"ALTER DATABASE {dbname} WITH ALLOW_CONNECTIONS false")
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                dbname,
            )
            (Path(daemon.root) / "b.txt").write_bytes(b"new")
            daemon.request_rescan()
            daemon.request_pull()

            async def error_shown() -> bool:
                return (daemon.status.connection or {}).get("state") == SERVER_ERROR

            await eventually(error_shown, "the daemon to see the server's error", within=30)
            # (a database refusing connections is a bare 500 "internal" today, not 503: the
            # server's error mapping is the hardening branch's; the status shows it either way)
            assert _shown(daemon).startswith("server error since")
        finally:
            await admin.execute(f"ALTER DATABASE {dbname} WITH ALLOW_CONNECTIONS true")
            await admin.close()

        async def clear() -> bool:
            doc = daemon.status.to_json()
            return daemon.idle and _shown(daemon) == "up to date" and doc["last_error"] is None

        await eventually(clear, "the error to clear", within=45)
    finally:
        await close()


async def test_a_revoked_device_stops_syncing_and_status_says_signed_out(stack, tmp_path):
    from client import TesseraClient
    from client.sync.status import SIGNED_OUT, read_status
    from protocol.errors import SignedOut
    from tests.faults.conftest import PASSWORD

    daemon, close = await _daemon(stack, tmp_path)
    task = None
    try:
        async def up_to_date() -> bool:
            return daemon.idle and _shown(daemon) == "up to date"

        await eventually(up_to_date, "the first sync", within=30)
        async with TesseraClient(stack.meta.url) as other:
            await other.login(USER, PASSWORD, "other")
            daemon_device = next(d.id for d in await other.devices() if d.name == "fault-test")
            await other.revoke_device(daemon_device)

        async def signed_out() -> bool:
            return (daemon.status.connection or {}).get("state") == SIGNED_OUT

        await eventually(signed_out, "the daemon to hear it is signed out", within=10)
    finally:
        try:
            await close()
        except SignedOut:
            task = "stopped"
    assert task == "stopped"  # the daemon ended with the error (the CLI prints it on one line)
    doc = read_status(daemon.files.status)
    assert doc is not None and doc["phase"] == "stopped"
    assert phase_text(doc, False) == "signed out: run `tessera login`, then `tessera sync` again"
    assert "signed out from another device" in folder_status(doc, False)
