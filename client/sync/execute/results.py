"""What an action of a plan came to: :class:`Result`, its :class:`Outcome`, and how a failure
is classified and logged (shared by the executor and its single-file and batch transfers)."""

from __future__ import annotations

import enum
import errno
import logging
from dataclasses import dataclass

from client.api.errors import FileChanged
from client.sync.local.disk import LocalChanged
from client.sync.plan.actions import Action
from client.sync.state.database import StateError
from protocol.errors import (
    AlreadyExists,
    BadPath,
    Conflict,
    IsAFolder,
    NotAFolder,
    NotAMember,
    NotFound,
    ReadOnly,
    TesseraError,
)

from .remote_delete import RemoteChanged

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    DONE = "done"
    #: the disk is not what the plan expected: rescan, then plan again
    LOCAL_CHANGED = "local_changed"
    #: the server is not what the plan expected: pull, then plan again
    REMOTE_CHANGED = "remote_changed"
    #: failed (network, server, disk); retried later
    FAILED = "failed"
    #: the server refuses it for good (e.g. a name it does not accept): reported, not retried
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Result:
    action: Action
    outcome: Outcome
    code: str = ""
    message: str = ""


def action_name(action: Action) -> str:
    return type(action).__name__


def classify(err: BaseException) -> tuple[Outcome, str]:
    """The outcome of an action that raised ``err`` (and the error code to report)."""
    if isinstance(err, (LocalChanged, FileChanged, FileExistsError, FileNotFoundError, NotADirectoryError)):
        return Outcome.LOCAL_CHANGED, getattr(err, "code", "") or "local_changed"
    if isinstance(err, RemoteChanged):
        return Outcome.REMOTE_CHANGED, "remote_changed"
    if isinstance(err, (Conflict, AlreadyExists, NotFound, NotAFolder, IsAFolder, ReadOnly, NotAMember)):
        # a share's role changed or it went (read_only, not_member): the feed says it; once
        # pulled, the plan keeps the file beside the share instead (client.sync.plan.shares)
        return Outcome.REMOTE_CHANGED, err.code
    if isinstance(err, BadPath):
        return Outcome.REFUSED, err.code
    if isinstance(err, TesseraError):
        return Outcome.FAILED, err.code
    if isinstance(err, StateError):
        return Outcome.FAILED, "state_error"
    if isinstance(err, OSError):
        return Outcome.FAILED, errno.errorcode.get(err.errno or 0, "os_error")
    raise err


def report(result: Result) -> Result:
    """Log an action that did not complete (a change found: INFO; a failure: WARNING)."""
    level = (
        logging.INFO if result.outcome in (Outcome.LOCAL_CHANGED, Outcome.REMOTE_CHANGED) else logging.WARNING
    )
    action = result.action
    log.log(level, "%s %s: %s (%s)", action_name(action), action.path, result.message, result.code)
    return result


def failure(action: Action, err: BaseException) -> Result:
    """The reported result of ``action`` that raised ``err`` (:func:`classify`)."""
    outcome, code = classify(err)
    return report(Result(action, outcome, code, getattr(err, "message", None) or str(err)))
