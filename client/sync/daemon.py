"""The sync daemon: keeps one local folder and the user's Tessera tree identical.

As in Dropbox's sync engine, three trees live in the folder's
:class:`~client.sync.state.database.SyncState`: *local* (fed by scans of the disk),
*remote* (fed by the change feed) and *synced* (what both last agreed on).
One loop (:meth:`SyncDaemon._cycle_loop`) does all the work, one round at a
time, so the trees never change under a plan:

1. pull the change feed if the server said something changed (or at start);
2. rescan the folder if the watcher, the periodic timer or an action said the
   disk changed (or at start);
3. filter ignored paths out of the three trees, plan, and execute the plan
   (:mod:`client.sync.execute.executor`); repeat while actions succeed. A round of
   downloads only keeps up with a stream of commits: it pulls what the server
   announces meanwhile and starts the new downloads beside the running ones
   (:mod:`client.sync.alongside` says why the trees stay consistent).

A round is an object, :class:`~client.sync.round.Round` (:mod:`client.sync.round`): its
steps, its parts (the executor, the prefetcher) and the failure table it keeps from one
round to the next; this module holds the daemon's lifecycle and the tasks around the rounds.

Around it, tasks only raise flags and wake the loop (:mod:`client.sync.schedule`): the long-poller
(``GET /v1/changes/longpoll``, honouring ``backoff``), the file watcher
(:mod:`client.sync.local.watch`), the periodic full rescan, and retry timers. One
more task, the prefetcher (:mod:`client.sync.remote.prefetch`), fetches large files
other devices are still uploading into staging files that the download of the
committed file then takes over. A
failed action is retried with exponential backoff (per action: another plan
that no longer contains it forgets it); one the server refuses for good (a
name it does not accept) is reported and not retried until it changes. The
status (:mod:`client.sync.status`) is written to the state folder as it
changes.

Blocking work (SQLite, scans, local file operations) runs on the daemon's own
worker threads; shutdown waits for them before the state is closed, so a
stopped daemon leaves a consistent state behind. Every action records its
result only once it took effect, so a daemon killed at any point resumes
correctly: the next plan sees what was done (both sides agree) and records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from client.transfer.upload.journal import UploadJournal
from protocol.errors import CursorReset, TesseraError, Unauthorized

from .errors import FolderGone, SyncStateUnusable
from .execute.executor import Executor
from .local.watch import OwnWrites, watch
from .lock import FolderLock
from .remote.feed import PendingUploads
from .remote.prefetch import Prefetcher
from .round import Round, report_error
from .schedule import Timers, Wishes
from .settings import FolderFiles, SyncSettings
from .state.database import DB_NAME, META_CURSOR, StateError, SyncState
from .status import IDLE, STOPPED, SyncStatus, write_status

if TYPE_CHECKING:
    from client.sync.alongside import Alongside
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: plan-and-execute rounds in a row before the loop yields to a fresh wake-up
MAX_ROUNDS = 20
#: how often the status file may be rewritten (seconds)
STATUS_INTERVAL = 0.5
#: worker threads for blocking work
WORKER_THREADS = 4

#: the device a daemon's tasks sync for (so a process running several daemons can tell their logs apart)
syncing_device: contextvars.ContextVar[str] = contextvars.ContextVar("syncing_device")


class SyncDaemon:
    """Keeps ``root`` in sync through ``client`` (an open, logged-in :class:`TesseraClient`).

    ``config_dir`` holds the folder's state directory (:class:`FolderFiles`);
    ``device`` names conflicted copies. :meth:`run` syncs until ``stop`` is set
    or the task is cancelled, and returns once everything is saved.
    """

    def __init__(
        self,
        root: Path,
        client: TesseraClient,
        *,
        config_dir: Path,
        device: str,
        settings: SyncSettings | None = None,
        user: str = "",
    ) -> None:
        self.files = FolderFiles.of(config_dir, root)
        self.root = self.files.root
        self.config_dir = Path(config_dir)
        self.client = client
        self.device = device
        self.settings = settings or SyncSettings()
        self.status = SyncStatus(root=str(self.root), server=client.server_url, user=user, device=device)
        self.pending = PendingUploads()
        #: files the executor renames into place: their watcher events are not news
        self.own_writes = OwnWrites()
        self._state: SyncState | None = None
        self._pool: ThreadPoolExecutor | None = None
        #: what the tasks ask of the next round, and the loop's wake-up
        self._wishes = Wishes()
        self._timers = Timers()
        #: the rounds and their parts, once the state is open (see _serve_with)
        self._round: Round | None = None
        self._executor: Executor | None = None
        self._alongside: Alongside | None = None
        self._prefetcher: Prefetcher | None = None
        self._watch_stop = asyncio.Event()
        self._round_failures = 0

    # -- public ---------------------------------------------------------------------------------

    @property
    def prefetcher(self) -> Prefetcher | None:
        """Fetches large files other devices are still uploading (None with ``prefetch`` off)."""
        return self._prefetcher

    @property
    def state(self) -> SyncState:
        if self._state is None:
            raise RuntimeError("the daemon is not running")
        return self._state

    @property
    def idle(self) -> bool:
        """Both sides agreed at the last plan, and nothing has asked for another round since."""
        wishes = self._wishes
        return self.status.phase == IDLE and not (
            wishes.local_dirty or wishes.remote_dirty or wishes.wake.is_set()
        )

    def request_rescan(self) -> None:
        """Rescan the folder soon (the watcher calls this)."""
        self._wishes.rescan()

    def request_pull(self) -> None:
        """Pull the change feed soon."""
        self._wishes.pull()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Sync until ``stop`` is set (or cancelled); fatal errors are raised after a clean shutdown."""
        stop = stop or asyncio.Event()
        syncing_device.set(self.device)  # this task's context, inherited by its child tasks
        await asyncio.to_thread(_make_private_dir, self.files.state_dir)
        lock = FolderLock(self.files.lock)
        await asyncio.to_thread(lock.acquire)
        self._pool = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="tessera-sync")
        try:
            try:
                self._state = await self._offload(SyncState, self.files.state_dir)
            except (StateError, sqlite3.DatabaseError) as e:
                raise SyncStateUnusable(f"{self.files.state_dir / DB_NAME}: {e}") from e
            await self._serve(stop)
        except TesseraError as e:  # fatal: `tessera status` shows why it stopped
            log.info("syncing stopped: %s (%s)", e.message, e.code)  # the CLI prints the error itself
            report_error(self.status, "", "sync", e.code, e.message)
            if isinstance(e, Unauthorized):
                self.status.server_failed_with(e)  # signed out: `tessera status` says so
            raise
        finally:
            try:
                await asyncio.shield(self._close())
            finally:
                await asyncio.to_thread(lock.release)

    # -- plumbing ---------------------------------------------------------------------------------

    async def _offload(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the daemon's worker threads."""
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def _close(self) -> None:
        self._timers.cancel_all()
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        self.status.transfers.clear()
        self.status.set_phase(STOPPED)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(write_status, self.files.status, self.status.to_json())
        if self._state is not None:
            await asyncio.to_thread(self._state.close)
        log.info("stopped syncing %s", self.root)

    # -- the tasks ----------------------------------------------------------------------------------

    async def _serve(self, stop: asyncio.Event) -> None:
        async with UploadJournal.in_config_dir(self.files.state_dir) as journal:
            await self._serve_with(stop, journal)

    async def _serve_with(self, stop: asyncio.Event, journal: UploadJournal) -> None:
        self._round = Round(
            self.files,
            self.state,
            self.client,
            config_dir=self.config_dir,
            device=self.device,
            settings=self.settings,
            status=self.status,
            pending=self.pending,
            own_writes=self.own_writes,
            journal=journal,
            offload=self._offload,
            wishes=self._wishes,
            timers=self._timers,
        )
        self._executor, self._alongside = self._round.executor, self._round.alongside
        self._prefetcher = self._round.prefetcher
        await self._round.prepare()
        if self._prefetcher is not None:
            await self._prefetcher.start()
        log.info("syncing %s with %s as device %s", self.root, self.client.server_url, self.device)
        workers = [
            asyncio.create_task(self._cycle_loop(), name="sync-cycle"),
            asyncio.create_task(self._longpoll_loop(), name="sync-longpoll"),
            asyncio.create_task(self._rescan_loop(), name="sync-rescan"),
            asyncio.create_task(self._status_loop(), name="sync-status"),
        ]
        if self.settings.watch:
            workers.append(asyncio.create_task(self._watch_loop(), name="sync-watch"))
        if self._prefetcher is not None:
            workers.append(asyncio.create_task(self._prefetcher.run(), name="sync-prefetch"))
        stopper = asyncio.create_task(stop.wait(), name="sync-stop")
        self._wishes.wake.set()
        try:
            done, _ = await asyncio.wait([stopper, *workers], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            self._watch_stop.set()
            for task in [stopper, *workers]:
                task.cancel()
            await asyncio.gather(stopper, *workers, return_exceptions=True)
            if self._prefetcher is not None:
                await self._prefetcher.close()

    async def _cycle_loop(self) -> None:
        while True:
            await self._wishes.wake.wait()
            self._wishes.wake.clear()
            try:
                await self._sync_rounds()
                self._round_failures = 0
            except (Unauthorized, FolderGone):
                raise
            except Exception as e:  # a bug or an unexpected failure: report it and try again later
                self._round_failures += 1
                delay = self.settings.retry_delay(self._round_failures)
                log.exception("sync round failed; trying again in %.0fs", delay)
                report_error(self.status, "", "sync", getattr(e, "code", type(e).__name__), str(e))
                self._timers.later("round", delay, self._wishes.wake.set)

    async def _sync_rounds(self) -> None:
        assert self._round is not None
        for _ in range(MAX_ROUNDS):
            if not await self._round.run():
                return
        log.info("many sync rounds in a row; continuing")
        self._timers.later("rounds", 1.0, self._wishes.wake.set)

    async def _longpoll_loop(self) -> None:
        await self._wishes.first_pull.wait()
        failures = 0
        while True:
            cursor = await self._offload(self.state.get_meta, META_CURSOR)
            changed = True
            if cursor:
                try:
                    answer = await self.client.longpoll(cursor, timeout=self.settings.longpoll_timeout)
                except Unauthorized as e:
                    self.status.server_failed_with(e)
                    raise
                except CursorReset:
                    pass
                except TesseraError as e:
                    log.info("long-poll failed (%s); polling again in a while", e.message)
                    self.status.server_failed_with(e)
                    await self._until_the_server_answers(failures + 1)
                    failures = 0
                    self.request_pull()  # what changed while it was away
                    continue
                else:
                    self.status.server_answered()
                    changed = answer.changes
                    if answer.backoff:
                        log.info("the server asks to wait %.0fs before polling again", answer.backoff)
                        await asyncio.sleep(answer.backoff)
            if changed:
                self._wishes.pull_done.clear()
                self.request_pull()
                await self._wishes.pull_done.wait()
                after = await self._offload(self.state.get_meta, META_CURSOR)
                if after == cursor:  # the pull failed; the cycle retries it with backoff
                    failures += 1
                    await asyncio.sleep(self.settings.retry_delay(failures))
                    continue
            failures = 0

    async def _until_the_server_answers(self, failures: int) -> None:
        """After a failed long-poll: ask the server a short question, with backoff, until it answers
        (a held poll says nothing until it ends, so the status would stay "offline" meanwhile)."""
        while True:
            await asyncio.sleep(self.settings.retry_delay(failures))
            try:
                await self.client.account()
            except Unauthorized as e:
                self.status.server_failed_with(e)
                raise
            except TesseraError as e:
                failures += 1
                self.status.server_failed_with(e)
                continue
            self.status.server_answered()
            return

    async def _rescan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rescan_interval)
            self.request_rescan()

    async def _watch_loop(self) -> None:
        try:
            await watch(
                self.root,
                self.request_rescan,
                self._is_ignored,
                step_ms=self.settings.watch_step_ms,
                max_ms=self.settings.watch_max_ms,
                stop=self._watch_stop,
                own_writes=self.own_writes,
            )
        except (OSError, RuntimeError) as e:  # e.g. out of inotify watches
            log.warning("cannot watch %s for changes (%s); relying on periodic rescans", self.root, e)
            self.status.warnings.append({"path": "/", "code": "no_watcher", "message": str(e)})
            self.status.touch()
            await asyncio.Event().wait()  # stay alive: the daemon ends when a task ends

    def _is_ignored(self, rel: str, is_dir: bool) -> bool:
        """The watcher's filter: the ignore rules of the last scan."""
        return self._round is not None and self._round.rules.is_ignored(rel, is_dir)

    async def _status_loop(self) -> None:
        written = -1
        while True:
            if self.status.version != written:
                written = self.status.version
                try:
                    await self._offload(write_status, self.files.status, self.status.to_json())
                except OSError as e:
                    log.warning("cannot write %s: %s", self.files.status, e)
            await asyncio.sleep(STATUS_INTERVAL)


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
