"""``tessera sync DIR`` and ``tessera status``: the sync daemon's commands.

``sync`` runs the daemon (:mod:`client.sync.daemon`) in the foreground until
Ctrl-C or SIGTERM, then shuts down cleanly (a second signal cancels what is
left at once). It logs to ``sync.log`` in the folder's state directory and,
when stderr is a terminal, shows what it is doing there; otherwise it is
quiet. ``status`` reads the status files the daemons write.

These commands get the root group's context object as ``ctx.obj``; they share
:mod:`client.cli.context` with :mod:`client.cli` (which registers them) and
import nothing from it, so the two modules do not import each other.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .context import json_option

if TYPE_CHECKING:
    from client.sync.daemon import SyncDaemon

    from .context import CliContext

#: the log file rotates at this size, keeping this many old ones
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: terminal view refreshes per second
REFRESH_PER_SECOND = 4


@click.command("sync")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--rescan-interval",
    type=click.FloatRange(min=1.0),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="Full rescan of the folder every SECONDS (a file watcher sees changes in between).",
)
@click.option("--no-watch", is_flag=True, help="Do not watch the folder; rely on the periodic rescans.")
@click.option(
    "--transfers",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Files uploaded or downloaded at once.",
)
@click.option(
    "--no-prefetch",
    is_flag=True,
    help="Do not fetch other devices' large files before their upload is committed.",
)
@click.pass_obj
def sync(
    obj: CliContext, folder: Path, rescan_interval: float, no_watch: bool, transfers: int, no_prefetch: bool
) -> None:
    """Keep FOLDER and your Tessera files in sync, until Ctrl-C."""
    from client.sync.errors import SyncLocked
    from client.sync.lock import is_locked
    from client.sync.settings import FolderFiles, SyncSettings

    creds = obj.credentials()
    files = FolderFiles.of(obj.config_dir, folder)
    if is_locked(files.lock):
        raise SyncLocked()
    settings = SyncSettings(
        rescan_interval=rescan_interval, watch=not no_watch, transfers=transfers, prefetch=not no_prefetch
    )
    files.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    async def go() -> None:
        from client.sync.daemon import SyncDaemon

        async with obj.client(obj.server_for(creds), creds.token) as client:
            daemon = SyncDaemon(
                files.root,
                client,
                config_dir=obj.config_dir,
                device=creds.device,
                settings=settings,
                user=creds.user,
            )
            with _terminal_view(daemon, obj.show_progress) as view_task:
                await _run_until_signalled(daemon.run, view_task)

    with _log_to_file(files.log):
        _run(go())


@click.command("status")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@json_option
@click.pass_obj
def status(obj: CliContext, folder: Path | None) -> None:
    """Show what the sync daemons are doing (all synced folders, or FOLDER)."""
    from client.sync.lock import is_locked
    from client.sync.settings import LOCK_FILE, STATUS_FILE, FolderFiles, state_dirs
    from client.sync.status import read_status
    from protocol.errors import NotFound

    from .sync_view import folder_status

    if folder is not None:
        dirs = [FolderFiles.of(obj.config_dir, folder).state_dir]
    else:
        dirs = state_dirs(obj.config_dir)
    found: list[dict[str, Any]] = []
    for d in dirs:
        doc = read_status(d / STATUS_FILE)
        if doc is not None:
            found.append({**doc, "running": is_locked(d / LOCK_FILE)})
    if folder is not None and not found:
        raise NotFound(f"{folder} is not synced (no `tessera sync` has run for it with this config dir)")
    human = "\n\n".join(folder_status(doc, doc["running"]) for doc in found)
    obj.emit({"folders": found}, human or "No folder is synced (start with `tessera sync DIR`).")


# -- running the daemon ---------------------------------------------------------------------------


def _run(coro: Awaitable[None]) -> None:
    """Run the daemon's coroutine on a fresh event loop (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(coro)  # type: ignore[arg-type]


async def _run_until_signalled(
    run: Callable[[asyncio.Event], Awaitable[None]], view_task: asyncio.Task[None] | None
) -> None:
    """Run the daemon; the first SIGINT/SIGTERM stops it cleanly, a second cancels it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None

    def on_signal() -> None:
        if stop.is_set():
            main.cancel()
        else:
            logging.getLogger(__name__).info("stopping (signal received)")
            stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await run(stop)
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if view_task is not None:
            view_task.cancel()


@contextmanager
def _log_to_file(path: Path) -> Iterator[None]:
    """Log INFO and up (DEBUG with -vv) to ``path``; stderr keeps its own level."""
    import logging.handlers

    root = logging.getLogger()
    previous = root.level
    for h in root.handlers:
        if h.level == logging.NOTSET:
            h.setLevel(previous)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(min(previous, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


@contextmanager
def _terminal_view(daemon: SyncDaemon, enabled: bool) -> Iterator[asyncio.Task[None] | None]:
    """On a terminal, a live view of the daemon on stderr (log lines print above it)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.live import Live
    from rich.logging import RichHandler

    from .sync_view import live_view

    console = Console(file=sys.stderr)
    root = logging.getLogger()
    plain = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    rich_handler = RichHandler(console=console, show_time=False, show_path=False)
    rich_handler.setLevel(min((h.level for h in plain), default=logging.WARNING))
    for h in plain:
        root.removeHandler(h)
    root.addHandler(rich_handler)

    async def refresh(live: Live) -> None:
        while True:
            live.update(live_view(daemon.status.to_json()))
            await asyncio.sleep(1 / REFRESH_PER_SECOND)

    live = Live(console=console, transient=True, auto_refresh=True, refresh_per_second=REFRESH_PER_SECOND)
    live.start()
    task = asyncio.get_running_loop().create_task(refresh(live))
    try:
        yield task
    finally:
        task.cancel()
        live.stop()
        root.removeHandler(rich_handler)
        for h in plain:
            root.addHandler(h)
