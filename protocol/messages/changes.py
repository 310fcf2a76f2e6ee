"""The change feed (``GET /v1/changes``) and the long-poll's answer (``GET /v1/changes/longpoll``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, NamedTuple

from .files import Metadata
from .wire import Wire, answer


@answer("change feed page")
@dataclass(frozen=True, slots=True)
class ChangesPage:
    """One page of the change feed."""

    entries: list[Metadata]
    #: where the next page starts; save it once the page's entries are applied
    cursor: str
    has_more: bool
    #: the page starts a full listing: forget what is known of the remote tree first
    reset: bool


def _not_negative(seconds: float) -> bool:
    return seconds >= 0


@answer("long-poll answer")
class LongPoll(NamedTuple):
    """The answer of a long-poll: did anything change, and how long to wait before the next.

    A tuple, ``(changes, backoff)``, as the client library has always answered it."""

    changes: bool
    #: seconds to wait before polling again (server overloaded or shutting down)
    backoff: Annotated[float | None, Wire(omit=True, check=(_not_negative, "negative backoff"))] = None
