"""protocol/messages/changes.py: change feed pages and long-poll answers."""

from __future__ import annotations

import pytest
from hypothesis import given

from protocol import codec
from protocol.errors import ProtocolError
from protocol.messages.changes import ChangesPage, LongPoll

from .. import strategies as s
from .roundtrip import assert_round_trip


@s.FAST
@given(s.changes_pages)
def test_a_page_round_trips(page):
    assert_round_trip(page)


@s.QUICK
@given(s.long_polls)
def test_a_long_poll_answer_round_trips(poll):
    assert_round_trip(poll)


def test_a_long_poll_answer_is_the_tuple_it_always_was():
    assert LongPoll.from_wire({"changes": False}) == (False, None)
    changes, backoff = LongPoll.from_wire({"changes": False, "backoff": 60})
    assert changes is False and backoff == 60.0 and isinstance(backoff, float)


def test_the_servers_shared_answers_keep_their_bytes():
    # backoff is written as given (the server's are integers); no backoff, no key
    assert LongPoll(True).to_wire() == {"changes": True}
    assert codec.pack(LongPoll(False, 60).to_wire()) == codec.pack({"changes": False, "backoff": 60})


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (LongPoll, {"changes": "yes"}, "long-poll answer: field 'changes' is missing or has the wrong type"),
        (LongPoll, {"changes": False, "backoff": -1}, "long-poll answer: negative backoff"),
        (LongPoll, {"changes": False, "backoff": "1"}, "long-poll answer: field 'backoff'"),
        (LongPoll, {"changes": False, "backoff": True}, "long-poll answer: field 'backoff'"),
        (LongPoll, 1, "long-poll answer: expected an object, got int"),
        (ChangesPage, {"entries": [], "cursor": "c", "has_more": False}, "change feed page: field 'reset'"),
        (ChangesPage, {"entries": [], "cursor": None, "has_more": False, "reset": False}, "field 'cursor'"),
        (
            ChangesPage,
            {"entries": [{"kind": "link", "path": "/x", "name": "x"}], "cursor": "c", "has_more": 0, "reset": 0},
            "metadata: unknown kind 'link'",
        ),
    ],
)
def test_malformed_answers_are_protocol_errors(cls, value, message):
    with pytest.raises(ProtocolError, match=message):
        cls.from_wire(value)
