"""Downloads that start while a round's downloads still run (keeping up with a stream of commits).

The daemon works in rounds (pull, scan, plan, execute), so without this a
file another device commits while a round's transfers run waits until the
whole round has finished, and is then planned together with everything else
that arrived meanwhile. :class:`Alongside` runs a round whose actions only
*add* to the local side (:data:`ALONGSIDE`: downloads, local folder creations
and synced-tree bookkeeping) and, while it runs, pulls the change feed each
time the server says something changed, plans again and starts the new plan's
actions at once, beside the ones already running.

Why this keeps the trees consistent:

- A pull writes only the remote tree; the actions of :data:`ALONGSIDE` write
  only the local and synced entries of their own path, so neither changes
  what the other relies on (a download records the revision it fetched; a
  newer one pulled meanwhile is planned by the next round, as before).
- No path runs twice: every path of the round and of the runs started beside
  it is *busy* until the round ends, and a new plan's actions on busy paths are
  dropped (the next round plans them again if they are still needed), so a
  half-recorded result of a running action never reaches a decision.
- A new plan is run only if all its other actions are of :data:`ALONGSIDE`
  too (anything else, e.g. a deletion or an upload, waits for the next round),
  and its folder creations complete before its downloads start, so nothing
  depends on an action of another run still in flight. Scans never run during
  a round.

The round returns once every run started beside it has finished, with all
their results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from .execute.executor import Executor
from .execute.results import Result
from .plan.actions import Action, Download, ForgetSynced, MkdirLocal, Phase, RecordSynced

#: the actions that may run beside a round's pulls and beside each other
ALONGSIDE = (Download, MkdirLocal, RecordSynced, ForgetSynced)


def only_alongside(actions: Sequence[Action]) -> bool:
    """True if every action is one of :data:`ALONGSIDE` and at least one is a download."""
    return all(isinstance(a, ALONGSIDE) for a in actions) and any(isinstance(a, Download) for a in actions)


class Alongside:
    """Runs rounds for one executor (see the module docstring).

    ``pull_wanted`` is set when the server announces changes; ``pull`` pulls
    them (False: the server could not be reached); ``replan`` loads the trees
    and gives the actions that may run now (failed ones waiting for their
    retry left out).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        pull_wanted: asyncio.Event,
        pull: Callable[[], Awaitable[bool]],
        replan: Callable[[], Awaitable[list[Action]]],
    ) -> None:
        self._executor = executor
        self._pull_wanted = pull_wanted
        self._pull = pull
        self._replan = replan
        #: runs started beside a round (for tests and the log)
        self.started_beside = 0

    async def run(self, actions: Sequence[Action]) -> list[Result]:
        """Execute ``actions`` (one round); with :func:`only_alongside`, new downloads join it."""
        if not only_alongside(actions):
            return await self._executor.run(actions)
        busy = {a.key for a in actions}
        results, first = await self._start(actions)
        runs: set[asyncio.Task[list[Result]]] = {first}
        failed_pull = False
        try:
            while runs:
                waiter = asyncio.ensure_future(self._pull_wanted.wait())
                watched: set[asyncio.Future[object]] = {*runs, waiter}  # type: ignore[arg-type]
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                for run in [r for r in runs if r in done]:
                    runs.discard(run)
                    results += run.result()
                if not runs or failed_pull or not self._pull_wanted.is_set():
                    continue
                self._pull_wanted.clear()
                if not await self._pull():
                    failed_pull = True  # the daemon retries it later; the round just finishes
                    continue
                fresh = [a for a in await self._replan() if a.key not in busy]
                if not fresh or not only_alongside(fresh):
                    continue
                busy.update(a.key for a in fresh)
                done_now, run = await self._start(fresh)
                results += done_now
                runs.add(run)
                self.started_beside += 1
        finally:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
        return results

    async def _start(self, actions: Sequence[Action]) -> tuple[list[Result], asyncio.Task[list[Result]]]:
        """Create the folders first (the other runs' downloads never wait on them), then start the rest."""
        folders = [a for a in actions if a.phase == Phase.MKDIR]
        rest = [a for a in actions if a.phase != Phase.MKDIR]
        done = await self._executor.run(folders) if folders else []
        return done, asyncio.ensure_future(self._executor.run(rest))
