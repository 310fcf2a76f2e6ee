"""protocol/messages/files.py: metadata, folder listings, revisions."""

from __future__ import annotations

import pytest
from hypothesis import given

from protocol.errors import ProtocolError
from protocol.messages.files import ListPage, Metadata, Revisions

from .. import strategies as s
from .roundtrip import assert_round_trip

FILE = {
    "kind": "file", "path": "/a/b.txt", "name": "b.txt", "rev": 7, "size": 12, "content_hash": "ab" * 32,
    "modified": 1700000000.5, "device": "laptop", "client_modified": None,
}  # fmt: skip


@s.FAST
@given(s.metadata())
def test_metadata_round_trips(m):
    assert_round_trip(m)


@s.QUICK
@given(s.list_pages)
def test_a_listing_round_trips(page):
    assert_round_trip(page)


@s.QUICK
@given(s.revisions)
def test_revisions_round_trip(revs):
    assert_round_trip(revs)


def test_the_wire_forms_of_docs_api_md():
    # file: all nine fields, in this order, nulls written; the others: kind, path, name only
    assert list(Metadata.from_wire(FILE).to_wire().items()) == list(FILE.items())
    folder = {"kind": "folder", "path": "/a", "name": "a"}
    assert Metadata.from_wire(folder).to_wire() == folder
    assert Metadata("deleted", "/x", "x").to_wire() == {"kind": "deleted", "path": "/x", "name": "x"}


def test_json_output_is_the_wire_form():
    m = Metadata.from_wire(FILE)
    assert m.to_json() == FILE and m.is_file and not m.is_folder
    revs = Revisions("/a/b.txt", False, 7, [m])
    assert revs.to_json() == {"path": "/a/b.txt", "deleted": False, "rev": 7, "revisions": [FILE]}


def test_times_are_read_as_floats_and_optional_fields_may_be_absent():
    m = Metadata.from_wire({**FILE, "modified": 1700000000, "client_modified": 5})
    assert (m.modified, m.client_modified) == (1700000000.0, 5.0) and isinstance(m.modified, float)
    bare = {k: v for k, v in FILE.items() if k not in ("modified", "device", "client_modified")}
    assert Metadata.from_wire(bare) == Metadata("file", "/a/b.txt", "b.txt", 7, 12, "ab" * 32)


def test_a_path_is_read_nfc_normalised():
    assert Metadata.from_wire({"kind": "folder", "path": "/Cafe\u0301", "name": "x"}).path == "/Caf\u00e9"


def test_the_file_fields_of_other_kinds_are_not_read():
    # as before: only a file's answer is checked for rev, size, ...
    m = Metadata.from_wire({"kind": "pending", "path": "/p", "name": "p", "rev": "junk"})
    assert m == Metadata("pending", "/p", "p")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([FILE], "metadata: expected an object, got list"),
        (None, "metadata: expected an object, got NoneType"),
        ({**FILE, "kind": "symlink"}, "metadata: unknown kind 'symlink'"),
        ({**FILE, "kind": None}, "metadata: unknown kind None"),
        ({**FILE, "path": None}, "metadata: field 'path' is missing or has the wrong type"),
        ({**FILE, "path": "/a/../../escape"}, "metadata: field 'path' is not a valid path: '.' and '..'"),
        ({**FILE, "path": "relative"}, "metadata: field 'path' is not a valid path"),
        ({**FILE, "path": "/a//b"}, "metadata: field 'path' is not a valid path: empty path segment"),
        ({k: v for k, v in FILE.items() if k != "name"}, "metadata: field 'name' is missing"),
        ({**FILE, "rev": True}, "metadata: field 'rev' is missing or has the wrong type"),
        ({**FILE, "rev": None}, "metadata: field 'rev' is missing or has the wrong type"),
        ({**FILE, "size": 1.5}, "metadata: field 'size'"),
        ({k: v for k, v in FILE.items() if k != "content_hash"}, "metadata: field 'content_hash'"),
        ({**FILE, "modified": "yesterday"}, "metadata: field 'modified'"),
        ({**FILE, "modified": False}, "metadata: field 'modified'"),
        ({**FILE, "device": 3}, "metadata: field 'device'"),
        ({**FILE, "client_modified": [1]}, "metadata: field 'client_modified'"),
    ],
)
def test_malformed_metadata_is_a_protocol_error(value, message):
    with pytest.raises(ProtocolError, match=message.replace("(", r"\(")):
        Metadata.from_wire(value)


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (ListPage, {"entries": [FILE], "cursor": "c"}, "folder listing: field 'has_more'"),
        (ListPage, {"entries": [FILE, 5], "cursor": "c", "has_more": False}, "metadata: expected an object"),
        (ListPage, {"entries": {}, "cursor": "c", "has_more": False}, "folder listing: field 'entries'"),
        (ListPage, {"entries": [], "cursor": 3, "has_more": False}, "folder listing: field 'cursor'"),
        (Revisions, {"path": "/a", "deleted": 0, "rev": None, "revisions": []}, "revisions: field 'deleted'"),
        (Revisions, {"path": "/a", "deleted": True, "rev": "1", "revisions": []}, "revisions: field 'rev'"),
        (Revisions, {"path": "/a", "deleted": True, "revisions": [{**FILE, "rev": "x"}]}, "metadata: field 'rev'"),
    ],
)
def test_malformed_listings_are_protocol_errors(cls, value, message):
    with pytest.raises(ProtocolError, match=message):
        cls.from_wire(value)


def test_a_listing_without_a_cursor_is_read():
    assert ListPage.from_wire({"entries": [], "has_more": False}) == ListPage([], None, False)
