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

The steps of a round, and the failure table they keep, are in
:mod:`client.sync.round` (a mixin of :class:`SyncDaemon`); this module holds
the daemon's lifecycle and the scheduling around the rounds.

Around it, tasks only raise flags and wake the loop: the long-poller
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

from .alongside import Alongside
from .errors import FolderGone, SyncStateUnusable
from .execute.executor import Executor
from .local import disk
from .local.ignore import IgnoreRules
from .local.watch import OwnWrites, watch
from .lock import FolderLock
from .plan.reconcile import Action
from .remote.feed import PendingUploads
from .remote.prefetch import Prefetcher
from .round import RoundSteps, _Failure
from .settings import FolderFiles, SyncSettings
from .state.database import DB_NAME, META_CURSOR, StateError, SyncState
from .status import IDLE, STOPPED, SyncStatus, write_status

if TYPE_CHECKING:
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


class SyncDaemon(RoundSteps):
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
        self.rules = IgnoreRules()
        #: files the executor renames into place: their watcher events are not news
        self.own_writes = OwnWrites()
        self._state: SyncState | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._executor: Executor | None = None
        self._prefetcher: Prefetcher | None = None
        self._wake = asyncio.Event()
        #: set with ``_remote_dirty``: a round's downloads may pull beside it (client.sync.alongside)
        self._pull_wanted = asyncio.Event()
        self._alongside: Alongside | None = None
        self._pull_done = asyncio.Event()
        self._first_pull = asyncio.Event()
        self._watch_stop = asyncio.Event()
        self._local_dirty = True
        self._remote_dirty = True
        self._account_checked = False
        self._pull_failures = 0
        self._round_failures = 0
        self._failures: dict[Action, _Failure] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._root_id: tuple[int, int] | None = None
        self._warned: set[tuple[str, str]] = set()

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
        return self.status.phase == IDLE and not (
            self._local_dirty or self._remote_dirty or self._wake.is_set()
        )

    def request_rescan(self) -> None:
        """Rescan the folder soon (the watcher calls this)."""
        self._local_dirty = True
        self._wake.set()

    def request_pull(self) -> None:
        """Pull the change feed soon."""
        self._remote_dirty = True
        self._pull_wanted.set()
        self._wake.set()

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
            self._report_error("", "sync", e.code, e.message)
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

    def _later(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` after ``delay`` seconds, unless a timer of that name fires sooner."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, delay)
        current = self._timers.get(name)
        if current is not None and not current.cancelled() and current.when() <= when:
            return
        if current is not None:
            current.cancel()

        def fire() -> None:
            self._timers.pop(name, None)
            fn()

        self._timers[name] = loop.call_at(when, fire)

    async def _close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
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
        await self._check_root()
        self.rules = await self._offload(IgnoreRules.load, self.root, state_dir=self.config_dir)
        removed = await self._offload(disk.remove_temp_files, self.root, self.rules)
        if removed:
            log.info("removed %d temporary file(s) of interrupted downloads", len(removed))
        await self._offload(self.state.set_device, self.device)
        if self.settings.prefetch:
            self._prefetcher = Prefetcher(
                self.client,
                self.state,
                self.files.state_dir,
                root=self.root,
                offload=self._offload,
                rules=lambda: self.rules,
                keep_after_gone=self.settings.prefetch_keep,
            )
            await self._prefetcher.start()
        self._executor = Executor(
            self.root,
            self.state,
            self.client,
            device=self.device,
            settings=self.settings,
            status=self.status,
            pending=self.pending,
            rules=lambda: self.rules,
            offload=self._offload,
            journal=journal,
            own_writes=self.own_writes,
            prefetcher=self._prefetcher,
        )
        self._alongside = Alongside(
            self._executor, pull_wanted=self._pull_wanted, pull=self._pull_beside, replan=self._runnable
        )
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
        self._wake.set()
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
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._sync_rounds()
                self._round_failures = 0
            except (Unauthorized, FolderGone):
                raise
            except Exception as e:  # a bug or an unexpected failure: report it and try again later
                self._round_failures += 1
                delay = self.settings.retry_delay(self._round_failures)
                log.exception("sync round failed; trying again in %.0fs", delay)
                self._report_error("", "sync", getattr(e, "code", type(e).__name__), str(e))
                self._later("round", delay, self._wake.set)

    async def _sync_rounds(self) -> None:
        for _ in range(MAX_ROUNDS):
            if self._remote_dirty and not await self._pull():
                return
            if self._local_dirty:
                await self._scan()
            if not await self._reconcile():
                return
        log.info("many sync rounds in a row; continuing")
        self._later("rounds", 1.0, self._wake.set)

    async def _longpoll_loop(self) -> None:
        await self._first_pull.wait()
        failures = 0
        while True:
            cursor = await self._offload(self.state.get_meta, META_CURSOR)
            changed = True
            if cursor:
                try:
                    answer = await self.client.longpoll(cursor, timeout=self.settings.longpoll_timeout)
                except Unauthorized:
                    raise
                except CursorReset:
                    pass
                except TesseraError as e:
                    failures += 1
                    log.info("long-poll failed (%s); polling again in a while", e.message)
                    await asyncio.sleep(self.settings.retry_delay(failures))
                    continue
                else:
                    changed = answer.changes
                    if answer.backoff:
                        log.info("the server asks to wait %.0fs before polling again", answer.backoff)
                        await asyncio.sleep(answer.backoff)
            if changed:
                self._pull_done.clear()
                self.request_pull()
                await self._pull_done.wait()
                after = await self._offload(self.state.get_meta, META_CURSOR)
                if after == cursor:  # the pull failed; the cycle retries it with backoff
                    failures += 1
                    await asyncio.sleep(self.settings.retry_delay(failures))
                    continue
            failures = 0

    async def _rescan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rescan_interval)
            self.request_rescan()

    async def _watch_loop(self) -> None:
        try:
            await watch(
                self.root,
                self.request_rescan,
                lambda rel, is_dir: self.rules.is_ignored(rel, is_dir),
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
