"""A round of the sync daemon: pull, scan, plan, execute; and the failure table kept across rounds.

:class:`~client.sync.daemon.SyncDaemon` runs rounds one at a time (:meth:`Round.run`); a round
does, step by step:

- check that the synced folder is still the one it was (:meth:`Round.check_root`)
  and that the trees belong to the logged-in account;
- pull the change feed (:meth:`Round.pull`) if asked to, rescan the folder
  (:meth:`Round.scan`) if asked to;
- load the three trees without ignored entries, plan, and execute the actions
  that are not waiting for a retry (:meth:`Round.reconcile`), through its
  executor (:mod:`client.sync.execute`) and with the downloads that join a
  running round (:mod:`client.sync.alongside`);
- take each result into the failure table (:meth:`Round._absorb`): a
  failed action is retried with exponential backoff, one the server refuses
  for good is reported and not retried until the plan changes, and a burst of
  downloads is followed by a settling rescan;
- show the pending actions and the errors in the status.

A :class:`Round` holds its parts (the executor, the prefetcher, the ignore rules
of the last scan) and what one round leaves the next (the failure table). What asks
for a round, and the timers, it shares with the daemon (:mod:`client.sync.schedule`);
the daemon's tasks and its lifecycle stay in :mod:`client.sync.daemon`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from client.transfer.concurrency import Offload
from protocol import paths
from protocol.errors import TesseraError, Unauthorized

from .alongside import Alongside
from .errors import FolderGone
from .execute.executor import Executor
from .execute.results import Outcome, Result, action_name
from .failures import FailureTable
from .local import disk
from .local.ignore import IgnoreRules
from .local.scan import RACY_WINDOW_NS, scan_blocking
from .local.watch import OwnWrites
from .plan.actions import Action, ConflictRename, Download, ForgetSynced, RecordSynced, Upload
from .plan.reconcile import plan
from .plan.shares import Area, areas_of, notice
from .plan.tree import Node
from .remote.feed import PendingUploads, pull
from .remote.prefetch import Prefetcher
from .schedule import Timers, Wishes
from .settings import FolderFiles, SyncSettings
from .state.database import META_CURSOR, SyncState
from .status import IDLE, OFFLINE, PULLING, SCANNING, SYNCING, WAITING, ActionError, SyncStatus

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient
    from client.transfer.upload.journal import UploadJournal

log = logging.getLogger(__name__)

#: a rescan after a file was caught changing while it was hashed
UNSTABLE_RESCAN_DELAY = 1.0
#: a rescan this long after the last download of a burst: a file written just now is "racy" (its
#: row cannot vouch for it by size, mtime and inode alone, see client.sync.local.scan), so the next
#: action on it would hash it again first; hashed by a scan once the racy window has passed, it
#: no longer is, and that hashing happens while the folder is quiet instead of in the way of the
#: next download of the file
SETTLE_RESCAN_DELAY = RACY_WINDOW_NS / 1e9 + 0.5
#: meta key: the account the trees belong to
META_ACCOUNT = "account"
#: marks a conflicted copy's name (see client.sync.plan.conflict)
CONFLICT_MARK = " (conflicted copy from "


class Round:
    """The rounds of one synced folder (see the module docstring).

    ``files`` and ``config_dir`` say where the folder and its state are; ``offload`` runs
    blocking calls on the daemon's worker threads; ``wishes`` and ``timers`` are shared with
    the daemon. The other arguments are the daemon's, passed on to the round's parts.
    """

    def __init__(
        self,
        files: FolderFiles,
        state: SyncState,
        client: TesseraClient,
        *,
        config_dir: Path,
        device: str,
        settings: SyncSettings,
        status: SyncStatus,
        pending: PendingUploads,
        own_writes: OwnWrites,
        journal: UploadJournal,
        offload: Offload,
        wishes: Wishes,
        timers: Timers,
    ) -> None:
        self.root = files.root
        self.config_dir = config_dir
        self.state = state
        self.client = client
        self.device = device
        self.settings = settings
        self.status = status
        self.pending = pending
        self.wishes = wishes
        self.timers = timers
        self._offload = offload
        #: the ignore rules as of the last scan
        self.rules = IgnoreRules()
        #: fetches large files other devices are still uploading (None with ``prefetch`` off)
        self.prefetcher = self._new_prefetcher(files.state_dir) if settings.prefetch else None
        self.executor = Executor(
            self.root,
            state,
            client,
            device=device,
            settings=settings,
            status=status,
            pending=pending,
            rules=lambda: self.rules,
            offload=offload,
            journal=journal,
            own_writes=own_writes,
            prefetcher=self.prefetcher,
        )
        self.alongside = Alongside(
            self.executor, pull_wanted=wishes.pull_wanted, pull=self._pull_beside, replan=self._runnable
        )
        self._account_checked = False
        self._pull_failures = 0
        self.failures = FailureTable(settings)
        self._root_id: tuple[int, int] | None = None
        self._warned: set[tuple[str, str]] = set()

    def _new_prefetcher(self, state_dir: Path) -> Prefetcher:
        return Prefetcher(
            self.client,
            self.state,
            state_dir,
            root=self.root,
            offload=self._offload,
            rules=lambda: self.rules,
            keep_after_gone=self.settings.prefetch_keep,
        )

    async def prepare(self) -> None:
        """Before the first round: check the folder, load its ignore rules, remove the temp files
        of interrupted downloads, and note the device in the state."""
        await self.check_root()
        self.rules = await self._offload(IgnoreRules.load, self.root, state_dir=self.config_dir)
        removed = await self._offload(disk.remove_temp_files, self.root, self.rules)
        if removed:
            log.info("removed %d temporary file(s) of interrupted downloads", len(removed))
        await self._offload(self.state.set_device, self.device)

    async def run(self) -> bool:
        """One round: pull if asked to, rescan if asked to, plan and execute; True if another round
        should follow at once (False too when the pull could not reach the server)."""
        if self.wishes.remote_dirty and not await self.pull():
            return False
        if self.wishes.local_dirty:
            await self.scan()
        return await self.reconcile()

    # -- the steps of a round -------------------------------------------------------------------------

    async def check_root(self) -> None:
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

    async def pull(self) -> bool:
        """Pull the change feed; False if the server could not be reached (retried later)."""
        self.wishes.remote_dirty = False
        self.wishes.pull_wanted.clear()
        self.status.set_phase(PULLING)
        try:
            if not self._account_checked:
                await self._check_account()
            result = await pull(self.client, self.state, self.pending, self._offload)
        except Unauthorized as e:
            self.status.server_failed_with(e)
            raise
        except TesseraError as e:
            self.status.server_failed_with(e)
            self.wishes.remote_dirty = True
            self._pull_failures += 1
            delay = self.settings.retry_delay(self._pull_failures)
            log.warning("cannot reach the server (%s); trying again in %.0fs", e.message, delay)
            report_error(self.status, "", "pull", e.code, e.message)
            self.status.set_phase(OFFLINE)
            self.timers.later("pull", delay, self.wishes.wake.set)
            return False
        finally:
            self.wishes.pull_done.set()
        self._pull_failures = 0
        self.status.server_answered()
        self.wishes.first_pull.set()
        self.status.elsewhere = self.pending.paths()
        if self.status.elsewhere and self.prefetcher is not None:
            self.prefetcher.poke()  # large files among them are fetched while they upload
        if result.changed:
            log.debug("pulled %d change(s) in %d page(s)", result.changed, result.pages)
        return True

    async def scan(self) -> None:
        self.wishes.local_dirty = False
        self.status.set_phase(SCANNING)
        await self.check_root()
        self.rules = await self._offload(IgnoreRules.load, self.root, state_dir=self.config_dir)
        if self.executor is not None and self.executor.stray_temp_files:
            # no download runs between rounds: every temp file left in the folder is stale
            self.executor.stray_temp_files = False
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
            self.timers.later("unstable", UNSTABLE_RESCAN_DELAY, self.wishes.rescan)
        if result.changed:
            log.debug(
                "scan: %d created, %d modified, %d deleted",
                len(result.created),
                len(result.modified),
                len(result.deleted),
            )

    def _load_trees(self) -> tuple[dict[str, Node], dict[str, Node], dict[str, Node], list[str], list[Area]]:
        """The three trees without ignored entries, the conflicted copies, and the shared folders
        the daemon may not write (blocking); forgets the shares that went once their folder is empty."""
        rules = self.rules
        local = rules.filter_tree(self.state.nodes("local"))
        remote = rules.filter_tree(self.state.nodes("remote"))
        synced = rules.filter_tree(self.state.nodes("synced"))
        conflicts = sorted(n.path for n in local.values() if CONFLICT_MARK in paths.basename(n.path))
        areas, done = areas_of(self.state.mounts(), local, synced)
        for path in done:
            log.info("the shared folder %s is gone from this device", path)
            self.state.drop_mount(path)
        return local, remote, synced, conflicts, areas

    async def reconcile(self) -> bool:
        """Plan and execute once; True if another round should follow at once."""
        actions, runnable = await self._plan()
        planned = set(actions)
        self.failures.keep_only(planned)
        self._show_pending(actions)
        if not actions:
            self.status.last_sync = time.time()
            self.status.set_phase(IDLE)
            self._show_errors()
            self.status.all_clear()
            return False
        if not runnable:
            self.status.set_phase(WAITING)
            self._show_errors()
            self._schedule_retries()
            return False
        self.status.set_phase(SYNCING)
        assert self.executor is not None and self.alongside is not None
        results = await self.alongside.run(runnable)
        again = False
        if self.executor.stray_temp_files:
            self.wishes.local_dirty = again = True  # the next round's scan sweeps them
        for r in results:
            again |= self._absorb(r, asyncio.get_running_loop().time())
        self._show_errors()
        self._schedule_retries()
        return again

    async def _plan(self) -> tuple[list[Action], list[Action]]:
        """The plan of the trees as they are now, and its actions that may run now (not waiting for a retry)."""
        local, remote, synced, conflicts, areas = await self._offload(self._load_trees)
        actions = plan(local, remote, synced, device=self.device, today=dt.date.today(), areas=areas)
        self.status.conflicts = conflicts
        now = asyncio.get_running_loop().time()
        return actions, [a for a in actions if not self.failures.blocked(a, now)]

    async def _runnable(self) -> list[Action]:
        return (await self._plan())[1]

    async def _pull_beside(self) -> bool:
        """A pull while a round's downloads run (client.sync.alongside)."""
        ok = await self.pull()
        if ok:
            self.status.set_phase(SYNCING)
        return ok

    def _settle_later(self) -> None:
        """Rescan :data:`SETTLE_RESCAN_DELAY` after the last download (each download postpones it)."""
        self.timers.restart("settle", SETTLE_RESCAN_DELAY, self.wishes.rescan)

    def _absorb(self, r: Result, now: float) -> bool:
        """Take one action's result into the failure table; True if a new round is worth it."""
        self.failures.absorb(r, now)
        if r.outcome == Outcome.DONE:
            if isinstance(r.action, Download):
                self._settle_later()
            elif isinstance(r.action, ConflictRename) and r.action.share:
                a = r.action
                self.status.notice(a.path, a.new_path, a.share, a.reason, notice(a.share, a.reason, a.path, a.new_path))
            return True
        if r.outcome == Outcome.LOCAL_CHANGED:
            self.wishes.local_dirty = True
        elif r.outcome == Outcome.REMOTE_CHANGED:
            self.wishes.remote_dirty = True
        else:
            report_error(self.status, r.action.path, action_name(r.action), r.code, r.message)
        return r.outcome in (Outcome.LOCAL_CHANGED, Outcome.REMOTE_CHANGED)

    def _schedule_retries(self) -> None:
        """Wake the loop when the first failed action may run again."""
        due = self.failures.next_retry()
        if due is not None:
            self.timers.later("retry", due - asyncio.get_running_loop().time(), self.wishes.wake.set)

    def _show_pending(self, actions: list[Action]) -> None:
        self.status.pending_uploads = [a.path for a in actions if isinstance(a, Upload)]
        self.status.pending_downloads = [a.path for a in actions if isinstance(a, Download)]
        self.status.pending_other = sum(
            1 for a in actions if not isinstance(a, Upload | Download | RecordSynced | ForgetSynced)
        )
        self.status.touch()

    def _show_errors(self) -> None:
        self.status.errors = self.failures.errors(asyncio.get_running_loop().time())
        self.status.touch()


def report_error(status: SyncStatus, path: str, action: str, code: str, message: str) -> None:
    """Show an error in the status (and so in ``tessera status``)."""
    status.record_error(ActionError(path, action, code, message, time.time()))


def _forget_account(state: SyncState) -> None:
    """Drop what is known of the server (another account): the next pull lists it afresh."""
    state.delete("remote", paths.ROOT, subtree=True)
    state.delete("synced", paths.ROOT, subtree=True)
    for m in state.mounts():
        state.drop_mount(m.path)
    state.set_meta(META_CURSOR, None)
