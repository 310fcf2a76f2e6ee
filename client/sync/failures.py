"""The failure table of the sync rounds: which actions did not complete, why, and when each may
run again.

A failed action is retried with exponential backoff (:meth:`SyncSettings.retry_delay`); one
that found a change (the disk or the server is not what the plan expected) is planned again
after a short recheck delay; one the server refuses for good is not retried while the plan
still holds it. An action the plan no longer holds is forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

from .execute.results import Outcome, Result, action_name
from .plan.actions import Action
from .settings import SyncSettings
from .status import ActionError


@dataclass(slots=True)
class Failure:
    """Why an action did not complete, and when it may run again."""

    result: Result
    attempts: int
    at: float  #: wall clock
    retry_at: float | None  #: event-loop clock; None: never (refused)


class FailureTable:
    """The failures of the actions still planned (event loop only)."""

    def __init__(self, settings: SyncSettings) -> None:
        self._settings = settings
        self._failures: dict[Action, Failure] = {}

    def keep_only(self, planned: Collection[Action]) -> None:
        """Forget the actions the plan no longer holds."""
        self._failures = {a: f for a, f in self._failures.items() if a in planned}

    def blocked(self, action: Action, now: float) -> bool:
        """Whether ``action`` waits for its retry at event-loop time ``now`` (or for good)."""
        f = self._failures.get(action)
        return f is not None and (f.retry_at is None or f.retry_at > now)

    def absorb(self, r: Result, now: float) -> None:
        """Take one action's result in: done forgets it, anything else counts an attempt."""
        if r.outcome == Outcome.DONE:
            self._failures.pop(r.action, None)
            return
        previous = self._failures.get(r.action)
        attempts = previous.attempts + 1 if previous is not None else 1
        if r.outcome == Outcome.REFUSED:
            retry_at = None
        elif r.outcome == Outcome.FAILED:
            retry_at = now + self._settings.retry_delay(attempts)
        else:
            retry_at = now + self._settings.retry_delay(attempts, self._settings.recheck_delay)
        self._failures[r.action] = Failure(r, attempts, time.time(), retry_at)

    def next_retry(self) -> float | None:
        """The event-loop time the first waiting action may run again (None: none waits)."""
        due = [f.retry_at for f in self._failures.values() if f.retry_at is not None]
        return min(due) if due else None

    def errors(self, loop_now: float) -> list[ActionError]:
        """The failed and refused actions, as the status shows them (by path)."""
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
        return sorted(errors, key=lambda e: e.path)
