"""The sync daemon: keeps one local folder and the user's Tessera tree identical.

As in Dropbox's sync engine, three trees live in the folder's
:class:`~client.sync_state.SyncState`: *local* (fed by scans of the disk),
*remote* (fed by the change feed) and *synced* (what both last agreed on).
One loop (:meth:`SyncDaemon._cycle_loop`) does all the work, one round at a
time, so the trees never change under a plan:

1. pull the change feed if the server said something changed (or at start);
2. rescan the folder if the watcher, the periodic timer or an action said the
   disk changed (or at start);
3. filter ignored paths out of the three trees, plan, and execute the plan
   (:mod:`client.sync_executor`); repeat while actions succeed. A round of
   downloads only keeps up with a stream of commits: it pulls what the server
   announces meanwhile and starts the new downloads beside the running ones
   (:mod:`client.sync_alongside` says why the trees stay consistent).

Around it, tasks only raise flags and wake the loop: the long-poller
(``GET /v1/changes/longpoll``, honouring ``backoff``), the file watcher
(:mod:`client.sync_watch`), the periodic full rescan, and retry timers. One
more task, the prefetcher (:mod:`client.sync_prefetch`), fetches large files
other devices are still uploading into staging files that the download of the
committed file then takes over. A
failed action is retried with exponential backoff (per action: another plan
that no longer contains it forgets it); one the server refuses for good (a
name it does not accept) is reported and not retried until it changes. The
status (:mod:`client.sync_status`) is written to the state folder as it
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
import datetime as dt
import functools
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from protocol import paths
from protocol.errors import CursorReset, TesseraError, Unauthorized

from . import sync_disk as disk
from .sync_alongside import Alongside
from .sync_config import FolderFiles, SyncSettings
from .sync_errors import FolderGone, SyncStateUnusable
from .sync_executor import Executor, Outcome, Result, action_name
from .sync_feed import PendingUploads, pull
from .sync_ignore import IgnoreRules
from .sync_lock import FolderLock
from .sync_prefetch import Prefetcher
from .sync_reconcile import Action, Download, ForgetSynced, RecordSynced, Upload, plan
from .sync_scan import RACY_WINDOW_NS, scan_blocking
from .sync_state import DB_NAME, META_CURSOR, StateError, SyncState
from .sync_status import (
    IDLE,
    OFFLINE,
    PULLING,
    SCANNING,
    STOPPED,
    SYNCING,
    WAITING,
    ActionError,
    SyncStatus,
    write_status,
)
from .sync_tree import Node
from .sync_watch import OwnWrites, watch
from .upload_journal import UploadJournal

if TYPE_CHECKING:
    from .api import TesseraClient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: plan-and-execute rounds in a row before the loop yields to a fresh wake-up
MAX_ROUNDS = 20
#: how often the status file may be rewritten (seconds)
STATUS_INTERVAL = 0.5
#: a rescan after a file was caught changing while it was hashed
UNSTABLE_RESCAN_DELAY = 1.0
#: a rescan this long after the last download of a burst: a file written just now is "racy" (its
#: row cannot vouch for it by size, mtime and inode alone, see client.sync_scan), so the next
#: action on it would hash it again first; hashed by a scan once the racy window has passed, it
#: no longer is, and that hashing happens while the folder is quiet instead of in the way of the
#: next download of the file
SETTLE_RESCAN_DELAY = RACY_WINDOW_NS / 1e9 + 0.5
#: meta key: the account the trees belong to
META_ACCOUNT = "account"
#: marks a conflicted copy's name (see client.sync_conflict)
CONFLICT_MARK = " (conflicted copy from "
#: worker threads for blocking work
WORKER_THREADS = 4

#: the device a daemon's tasks sync for (so a process running several daemons can tell their logs apart)
syncing_device: contextvars.ContextVar[str] = contextvars.ContextVar("syncing_device")


@dataclass(slots=True)
class _Failure:
    """Why an action did not complete, and when it may run again."""

    result: Result
    attempts: int
    at: float  #: wall clock
    retry_at: float | None  #: event-loop clock; None: never (refused)


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
        self.rules = IgnoreRules()
        #: files the executor renames into place: their watcher events are not news
        self.own_writes = OwnWrites()
        self._state: SyncState | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._executor: Executor | None = None
        self._prefetcher: Prefetcher | None = None
        self._wake = asyncio.Event()
        #: set with ``_remote_dirty``: a round's downloads may pull beside it (client.sync_alongside)
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

    # -- the steps of a round -------------------------------------------------------------------------

    async def _check_root(self) -> None:
        """FolderGone if the synced folder vanished or was replaced (never sync an empty mount point)."""
        try:
            st = await self._offload(os.stat, self.root)
        except FileNotFoundError:
            raise FolderGone(f"{self.root} no longer exists; syncing stopped") from None
        if not stat.S_ISDIR(st.st_mode):
            raise FolderGone(f"{self.root} is no longer a folder; syncing stopped")
        ident = (st.st_dev, st.st_ino)
        if self._root_id is None:
            self._root_id = ident
        elif ident != self._root_id:
            raise FolderGone(f"{self.root} was replaced by another folder; syncing stopped")

    async def _check_account(self) -> None:
        """The trees belong to one account on one server: another one starts them afresh."""
        account = await self.client.account()
        self.status.user = account.user
        ident = f"{self.client.server_url} {account.user_id}"
        known = await self._offload(self.state.get_meta, META_ACCOUNT)
        if known is not None and known != ident:
            log.warning("%s was synced with another account; starting afresh", self.root)
            await self._offload(_forget_account, self.state)
        await self._offload(self.state.set_meta, META_ACCOUNT, ident)
        self._account_checked = True

    async def _pull(self) -> bool:
        """Pull the change feed; False if the server could not be reached (retried later)."""
        self._remote_dirty = False
        self._pull_wanted.clear()
        self.status.set_phase(PULLING)
        try:
            if not self._account_checked:
                await self._check_account()
            result = await pull(self.client, self.state, self.pending, self._offload)
        except Unauthorized:
            raise
        except TesseraError as e:
            self._remote_dirty = True
            self._pull_failures += 1
            delay = self.settings.retry_delay(self._pull_failures)
            log.warning("cannot reach the server (%s); trying again in %.0fs", e.message, delay)
            self._report_error("", "pull", e.code, e.message)
            self.status.set_phase(OFFLINE)
            self._later("pull", delay, self._wake.set)
            return False
        finally:
            self._pull_done.set()
        self._pull_failures = 0
        self._first_pull.set()
        self.status.elsewhere = self.pending.paths()
        if self.status.elsewhere and self._prefetcher is not None:
            self._prefetcher.poke()  # large files among them are fetched while they upload
        if result.changed:
            log.debug("pulled %d change(s) in %d page(s)", result.changed, result.pages)
        return True

    async def _scan(self) -> None:
        self._local_dirty = False
        self.status.set_phase(SCANNING)
        await self._check_root()
        self.rules = await self._offload(IgnoreRules.load, self.root, state_dir=self.config_dir)
        if self._executor is not None and self._executor.stray_temp_files:
            # no download runs between rounds: every temp file left in the folder is stale
            self._executor.stray_temp_files = False
            removed = await self._offload(disk.remove_temp_files, self.root, self.rules)
            if removed:
                log.info("removed %d temporary file(s) of failed downloads", len(removed))
        result = await self._offload(scan_blocking, self.root, self.state, self.rules)
        for w in result.warnings:
            if (w.path, w.code) not in self._warned:
                self._warned.add((w.path, w.code))
                log.warning("skipped %s: %s", w.path, w.message)
        for e in self.rules.errors:
            if (str(e.line_number), "ignore") not in self._warned:
                self._warned.add((str(e.line_number), "ignore"))
                log.warning(".tesseraignore line %d is not a valid pattern: %s", e.line_number, e.reason)
        self.status.warnings = [
            {"path": w.path, "code": w.code, "message": w.message} for w in result.warnings
        ]
        self.status.touch()
        if result.unstable:
            log.info("%d file(s) changed while they were hashed; rescanning soon", len(result.unstable))
            self._later("unstable", UNSTABLE_RESCAN_DELAY, self.request_rescan)
        if result.changed:
            log.debug(
                "scan: %d created, %d modified, %d deleted",
                len(result.created),
                len(result.modified),
                len(result.deleted),
            )

    def _load_trees(self) -> tuple[dict[str, Node], dict[str, Node], dict[str, Node], list[str]]:
        """The three trees without ignored entries, and the conflicted copies (blocking)."""
        rules = self.rules
        local = rules.filter_tree(self.state.nodes("local"))
        remote = rules.filter_tree(self.state.nodes("remote"))
        synced = rules.filter_tree(self.state.nodes("synced"))
        conflicts = sorted(n.path for n in local.values() if CONFLICT_MARK in paths.basename(n.path))
        return local, remote, synced, conflicts

    async def _reconcile(self) -> bool:
        """Plan and execute once; True if another round should follow at once."""
        actions, runnable = await self._plan()
        planned = set(actions)
        self._failures = {a: f for a, f in self._failures.items() if a in planned}
        self._show_pending(actions)
        if not actions:
            self.status.last_sync = time.time()
            self.status.set_phase(IDLE)
            self._show_errors()
            return False
        if not runnable:
            self.status.set_phase(WAITING)
            self._show_errors()
            self._schedule_retries()
            return False
        self.status.set_phase(SYNCING)
        assert self._executor is not None and self._alongside is not None
        results = await self._alongside.run(runnable)
        again = False
        if self._executor.stray_temp_files:
            self._local_dirty = again = True  # the next round's scan sweeps them
        for r in results:
            again |= self._absorb(r, asyncio.get_running_loop().time())
        self._show_errors()
        self._schedule_retries()
        return again

    async def _plan(self) -> tuple[list[Action], list[Action]]:
        """The plan of the trees as they are now, and its actions that may run now (not waiting for a retry)."""
        local, remote, synced, conflicts = await self._offload(self._load_trees)
        actions = plan(local, remote, synced, device=self.device, today=dt.date.today())
        self.status.conflicts = conflicts
        now = asyncio.get_running_loop().time()
        return actions, [a for a in actions if not self._blocked(a, now)]

    async def _runnable(self) -> list[Action]:
        return (await self._plan())[1]

    async def _pull_beside(self) -> bool:
        """A pull while a round's downloads run (client.sync_alongside)."""
        ok = await self._pull()
        if ok:
            self.status.set_phase(SYNCING)
        return ok

    def _settle_later(self) -> None:
        """Rescan :data:`SETTLE_RESCAN_DELAY` after the last download (each download postpones it)."""
        current = self._timers.pop("settle", None)
        if current is not None:
            current.cancel()
        self._later("settle", SETTLE_RESCAN_DELAY, self.request_rescan)

    def _blocked(self, action: Action, now: float) -> bool:
        f = self._failures.get(action)
        return f is not None and (f.retry_at is None or f.retry_at > now)

    def _absorb(self, r: Result, now: float) -> bool:
        """Take one action's result into the failure table; True if a new round is worth it."""
        if r.outcome == Outcome.DONE:
            self._failures.pop(r.action, None)
            if isinstance(r.action, Download):
                self._settle_later()
            return True
        previous = self._failures.get(r.action)
        attempts = previous.attempts + 1 if previous is not None else 1
        if r.outcome == Outcome.REFUSED:
            retry_at = None
        elif r.outcome == Outcome.FAILED:
            retry_at = now + self.settings.retry_delay(attempts)
        else:
            retry_at = now + self.settings.retry_delay(attempts, self.settings.recheck_delay)
        self._failures[r.action] = _Failure(r, attempts, time.time(), retry_at)
        if r.outcome == Outcome.LOCAL_CHANGED:
            self._local_dirty = True
        elif r.outcome == Outcome.REMOTE_CHANGED:
            self._remote_dirty = True
        else:
            self._report_error(r.action.path, action_name(r.action), r.code, r.message)
        return r.outcome in (Outcome.LOCAL_CHANGED, Outcome.REMOTE_CHANGED)

    def _schedule_retries(self) -> None:
        """Wake the loop when the first failed action may run again."""
        due = [f.retry_at for f in self._failures.values() if f.retry_at is not None]
        if due:
            self._later("retry", min(due) - asyncio.get_running_loop().time(), self._wake.set)

    def _show_pending(self, actions: list[Action]) -> None:
        self.status.pending_uploads = [a.path for a in actions if isinstance(a, Upload)]
        self.status.pending_downloads = [a.path for a in actions if isinstance(a, Download)]
        self.status.pending_other = sum(
            1 for a in actions if not isinstance(a, Upload | Download | RecordSynced | ForgetSynced)
        )
        self.status.touch()

    def _show_errors(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        errors = []
        for f in self._failures.values():
            if f.result.outcome not in (Outcome.FAILED, Outcome.REFUSED):
                continue
            retry_wall = None if f.retry_at is None else time.time() + max(0.0, f.retry_at - loop_now)
            errors.append(
                ActionError(
                    f.result.action.path,
                    action_name(f.result.action),
                    f.result.code,
                    f.result.message,
                    f.at,
                    f.attempts,
                    retry_wall,
                    permanent=f.retry_at is None,
                )
            )
        self.status.errors = sorted(errors, key=lambda e: e.path)
        self.status.touch()

    def _report_error(self, path: str, action: str, code: str, message: str) -> None:
        self.status.record_error(ActionError(path, action, code, message, time.time()))


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _forget_account(state: SyncState) -> None:
    """Drop what is known of the server (another account): the next pull lists it afresh."""
    state.delete("remote", paths.ROOT, subtree=True)
    state.delete("synced", paths.ROOT, subtree=True)
    state.set_meta(META_CURSOR, None)
