"""protocol/messages/incoming.py: pending uploads offered to other devices."""

from __future__ import annotations

import pytest
from hypothesis import given

from protocol.errors import ProtocolError
from protocol.messages.blocks import RemoteBlock
from protocol.messages.incoming import IncomingBlock, IncomingPage, IncomingUpload, IncomingUploads

from .. import strategies as s
from .roundtrip import assert_round_trip

UPLOAD = {
    "upload_id": "0" * 32, "path": "/big", "size": 9, "content_hash": "AA" * 32, "block_count": 3,
    "stored": 1, "device": "laptop", "expires_at": 5.5,
}  # fmt: skip
STORED = {"index": 1, "block_id": "1" * 32, "size": 3, "md5": "b" * 32, "sha256": "c" * 64, "stored": True, "grant": "g"}
NOT_YET = {"index": 2, "block_id": "2" * 32, "size": 3, "md5": "d" * 32, "sha256": "e" * 64, "stored": False}
PAGE = {
    "upload_id": "0" * 32, "path": "/big", "size": 9, "content_hash": "a" * 64, "total": 3, "start": 1,
    "block_servers": ["http://b"], "blocks": [STORED, NOT_YET],
}  # fmt: skip


@s.QUICK
@given(s.incoming_uploads)
def test_an_incoming_upload_round_trips(upload):
    assert_round_trip(upload)
    assert_round_trip(IncomingUploads([upload]))


@s.QUICK
@given(s.incoming_pages)
def test_a_page_round_trips(page):
    assert_round_trip(page)


def test_the_wire_forms_and_what_a_page_offers():
    assert IncomingUploads.from_wire({"uploads": [UPLOAD]}).uploads[0].content_hash == "aa" * 32
    page = IncomingPage.from_wire(PAGE)
    assert page.to_wire() == PAGE  # a block not stored yet has no grant key
    assert page.indexes == [1, 2]
    assert page.stored == [RemoteBlock(1, "1" * 32, 3, "b" * 32, "c" * 64, "g")]


def test_the_device_and_expiry_may_be_left_out():
    bare = {k: v for k, v in UPLOAD.items() if k not in ("device", "expires_at")}
    assert IncomingUpload.from_wire(bare).device is None


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (IncomingUploads, {"uploads": None}, "incoming uploads: field 'uploads'"),
        (IncomingUploads, [], "incoming uploads: expected an object"),
        (IncomingUploads, {"uploads": [{**UPLOAD, "stored": "1"}]}, "incoming upload: field 'stored'"),
        (IncomingUploads, {"uploads": [{**UPLOAD, "path": "/.."}]}, "incoming upload: field 'path' is not a valid path"),
        (IncomingPage, {**PAGE, "path": "x/y"}, "incoming block list: field 'path' is not a valid path"),
        (IncomingPage, {**PAGE, "block_servers": [None]}, "incoming block list: block_servers must be URLs"),
        (IncomingPage, {**PAGE, "blocks": [{**STORED, "grant": None}]}, "incoming block: field 'grant'"),
        (IncomingPage, {**PAGE, "blocks": [{**NOT_YET, "stored": None}]}, "incoming block: field 'stored'"),
        (IncomingPage, {**PAGE, "blocks": [{**NOT_YET, "index": "2"}]}, "incoming block: field 'index'"),
        (IncomingBlock, 3, "incoming block: expected an object, got int"),
    ],
)
def test_malformed_answers_are_protocol_errors(cls, value, message):
    with pytest.raises(ProtocolError, match=message):
        cls.from_wire(value)
