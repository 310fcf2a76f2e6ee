"""What one garbage collection run is asked to do, and what it reports (:mod:`.collector`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

DEFAULT_GRACE = 24 * 3600.0
#: expired session rows are kept this long, so resuming one answers 410, not 404
DEFAULT_TOMBSTONE_AGE = 7 * 24 * 3600.0
#: sessions expire this long after ``expires_at`` (the metadata servers' clocks may differ from the database's)
DEFAULT_SESSION_SLACK = 300.0
#: temp files untouched for this long are left over from a crash (a live put writes at least every minute)
MIN_TEMP_AGE = 3600.0
#: rows handled per transaction
BATCH = 1000


@dataclass(frozen=True, slots=True)
class GcOptions:
    #: seconds a block must stay unreferenced (an object without a row: old) before it is deleted
    grace: float = DEFAULT_GRACE
    #: count what would be done, change nothing
    dry_run: bool = False
    #: also list the whole store for orphan objects and stale temp files
    sweep_store: bool = True
    session_slack: float = DEFAULT_SESSION_SLACK
    tombstone_age: float = DEFAULT_TOMBSTONE_AGE
    #: None: max(grace, MIN_TEMP_AGE)
    temp_age: float | None = None
    batch: int = BATCH

    @property
    def effective_temp_age(self) -> float:
        return self.temp_age if self.temp_age is not None else max(self.grace, MIN_TEMP_AGE)


@dataclass(slots=True)
class GcReport:
    """What one run did (or, in a dry run, would do)."""

    dry_run: bool = False
    #: committed sessions whose block lists were dropped (their versions hold the blocks)
    sessions_released: int = 0
    sessions_expired: int = 0
    sessions_removed: int = 0
    blocks_marked: int = 0
    blocks_unmarked: int = 0
    blocks_deleted: int = 0
    bytes_freed: int = 0
    orphans_deleted: int = 0
    temp_files_removed: int = 0
    #: object deletions that failed (the objects are orphans now; a later sweep retries)
    delete_errors: int = 0
    store_swept: bool = False
    seconds: float = 0.0
    #: ids whose rows were deleted (first few, for logs and tests)
    deleted_ids: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("deleted_ids")
        return d
