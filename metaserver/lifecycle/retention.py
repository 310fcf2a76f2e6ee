"""The retention rule: which versions a file keeps, and how long the trash keeps what is in it.

A version stops being current when the next version of its file is saved (its
``superseded`` time; the current version has none and is never pruned, nor is the last
version of a file in the trash). With a retention of ``days`` days, measured at ``now``:

- every version superseded in the last 24 hours is kept (every version of the last day);
- of those superseded earlier, but less than ``days`` days ago, the last version of each
  day is kept (the day it was saved, UTC; the version whose next one was saved on a later
  day): the file's state at the end of every day;
- a version superseded ``days`` days ago or more is pruned.

An item deleted ``days`` days ago or more leaves the trash (purged with its files' versions).
Retention counts from when a version was replaced, not from when it was saved: a file kept
unchanged for a year and then overwritten keeps that year-old version for ``days`` more days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..core.settings import DEFAULT_RETENTION_DAYS

#: the server's retention when the operator sets none (Dropbox's basic plans keep 30 days)
DEFAULT_DAYS = DEFAULT_RETENTION_DAYS
#: every version superseded this recently is kept
RECENT = timedelta(hours=24)


def keeps(created: datetime, superseded: datetime | None, now: datetime, days: int) -> bool:
    """Does a version saved at ``created`` and replaced at ``superseded`` (None: it is current)
    survive a pruning at ``now`` with a retention of ``days`` days?"""
    if superseded is None or superseded > now - RECENT:
        return True
    if superseded <= now - timedelta(days=days):
        return False
    return superseded.astimezone(UTC).date() > created.astimezone(UTC).date()


def trash_expiry(now: datetime, days: int) -> datetime:
    """Items deleted before this are purged."""
    return now - timedelta(days=days)
