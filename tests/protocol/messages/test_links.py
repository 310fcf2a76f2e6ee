"""protocol/messages/links.py: share links as their owner sees them."""

from __future__ import annotations

import pytest
from hypothesis import given

from protocol.errors import ProtocolError
from protocol.messages.links import Link, LinkRevoked, Links, NewLink

from .. import strategies as s
from .roundtrip import assert_round_trip

LINK = {"id": 4, "path": "/Photos", "created": 1.0, "expires": None, "password": True, "view_only": False,
        "revoked": None, "state": "active"}  # fmt: skip


@s.QUICK
@given(s.share_links, s.new_links, s.link_lists, s.revoked_links)
def test_links_round_trip(link, new, listed, revoked):
    for message in (link, new, listed, revoked):
        assert_round_trip(message)


def test_kind_is_written_only_when_known():
    assert Link.from_wire(LINK).to_json() == LINK
    made = NewLink.from_wire({"link": {**LINK, "kind": "folder"}, "url": "https://x/s/t"})
    assert made.link.kind == "folder" and made.to_wire()["link"]["kind"] == "folder"


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (Link, {**LINK, "state": "gone"}, "link: unknown state 'gone'"),
        (Link, {**LINK, "path": "/a/../b"}, "link: field 'path'"),
        (Link, {**LINK, "password": 1}, "link: field 'password'"),
        (NewLink, {"url": "x"}, "link: expected an object"),
        (NewLink, {"link": LINK}, "new link: field 'url'"),
        (Links, {"links": [{**LINK, "id": "4"}]}, "link: field 'id'"),
        (LinkRevoked, {"link": []}, "link: expected an object, got list"),
    ],
)
def test_malformed_answers_are_protocol_errors(cls, value, message):
    with pytest.raises(ProtocolError, match=message):
        cls.from_wire(value)
