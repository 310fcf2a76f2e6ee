"""The steps of one sync round of :class:`~client.sync.daemon.SyncDaemon`, and the failure table.

The daemon's loop (:meth:`SyncDaemon._cycle_loop <client.sync.daemon.SyncDaemon>`)
runs rounds; this module holds what a round does, step by step:

- check that the synced folder is still the one it was (:meth:`RoundSteps._check_root`)
  and that the trees belong to the logged-in account;
- pull the change feed (:meth:`RoundSteps._pull`), rescan the folder
  (:meth:`RoundSteps._scan`);
- load the three trees without ignored entries, plan, and execute the actions
  that are not waiting for a retry (:meth:`RoundSteps._reconcile`);
- take each result into the failure table (:meth:`RoundSteps._absorb`): a
  failed action is retried with exponential backoff, one the server refuses
  for good is reported and not retried until the plan changes, and a burst of
  downloads is followed by a settling rescan;
- show the pending actions and the errors in the status.

:class:`RoundSteps` is a mixin of :class:`~client.sync.daemon.SyncDaemon`: it
keeps no state of its own; the daemon's attributes it reads and writes are
declared below, and the scheduling around the rounds (the tasks, the timers of
:meth:`SyncDaemon._later`, the worker threads) stays in :mod:`client.sync.daemon`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from protocol import paths
from protocol.errors import TesseraError, Unauthorized

from .alongside import Alongside
from .errors import FolderGone
from .execute.executor import Executor, Outcome, Result, action_name
from .local import disk
from .local.ignore import IgnoreRules
from .local.scan import RACY_WINDOW_NS, scan_blocking
from .plan.reconcile import Action, Download, ForgetSynced, RecordSynced, Upload, plan
from .plan.tree import Node
from .remote.feed import PendingUploads, pull
from .remote.prefetch import Prefetcher
from .settings import SyncSettings
from .state.database import META_CURSOR, SyncState
from .status import IDLE, OFFLINE, PULLING, SCANNING, SYNCING, WAITING, ActionError, SyncStatus

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)

T = TypeVar("T")

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


@dataclass(slots=True)
class _Failure:
    """Why an action did not complete, and when it may run again."""

    result: Result
    attempts: int
    at: float  #: wall clock
    retry_at: float | None  #: event-loop clock; None: never (refused)


class RoundSteps:
    """The steps of a round (see the module docstring); mixed into :class:`~client.sync.daemon.SyncDaemon`."""

    # -- what the daemon provides ---------------------------------------------------------------------

    root: Path
    config_dir: Path
    client: TesseraClient
    device: str
    settings: SyncSettings
    status: SyncStatus
    pending: PendingUploads
    rules: IgnoreRules
    _executor: Executor | None
    _alongside: Alongside | None
    _prefetcher: Prefetcher | None
    _wake: asyncio.Event
    _pull_wanted: asyncio.Event
    _pull_done: asyncio.Event
    _first_pull: asyncio.Event
    _local_dirty: bool
    _remote_dirty: bool
    _account_checked: bool
    _pull_failures: int
    _failures: dict[Action, _Failure]
    _timers: dict[str, asyncio.TimerHandle]
    _root_id: tuple[int, int] | None
    _warned: set[tuple[str, str]]

    if TYPE_CHECKING:

        @property
        def state(self) -> SyncState: ...

        def request_rescan(self) -> None: ...

        async def _offload(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        def _later(self, name: str, delay: float, fn: Callable[[], None]) -> None: ...

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
        """A pull while a round's downloads run (client.sync.alongside)."""
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


def _forget_account(state: SyncState) -> None:
    """Drop what is known of the server (another account): the next pull lists it afresh."""
    state.delete("remote", paths.ROOT, subtree=True)
    state.delete("synced", paths.ROOT, subtree=True)
    state.set_meta(META_CURSOR, None)
