"""protocol/messages/lifecycle.py: usage, the trash listing, a purge's answer, and the trash's
requests (restore, purge); a file's restore request (protocol/messages/files.py)."""

from __future__ import annotations

import pytest
from hypothesis import given

from protocol.errors import BadPath, BadRequest, ProtocolError
from protocol.messages.files import Restore
from protocol.messages.lifecycle import (
    PurgeResult,
    TrashEntry,
    TrashPage,
    TrashPurge,
    TrashRestore,
    Usage,
    UsageReport,
)

from .. import strategies as s
from .roundtrip import assert_round_trip

FILE_ITEM = {
    "id": 4, "item": True, "kind": "file", "path": "/notes.txt", "name": "notes.txt", "deleted": 1700000000.5,
    "device": "laptop", "user": "alice", "rev": 9, "version": 2, "size": 6, "files": 1, "bytes": 6,
}  # fmt: skip
FOLDER_INSIDE = {
    "id": 5, "item": False, "kind": "folder", "path": "/P/src", "name": "src", "deleted": 1700000000.5,
    "device": None, "user": None,
}  # fmt: skip
USAGE = {
    "quota_bytes": None, "used_bytes": 9, "retention_days": 30, "current_bytes": 2, "version_bytes": 4,
    "trash_bytes": 3, "stored_bytes": 9,
    "namespaces": [{"ns_id": 1, "kind": "home", "current_bytes": 2, "version_bytes": 4, "trash_bytes": 3,
                    "stored_bytes": 9}],
}  # fmt: skip


@s.QUICK
@given(s.usage_reports, s.trash_pages, s.purge_results)
def test_the_lifecycle_messages_round_trip(report, page, purged):
    assert_round_trip(report)
    assert_round_trip(page)
    assert_round_trip(purged)


def test_the_wire_forms_of_docs_api_md():
    # a file has its last version, an item what it holds; the other fields are not written
    assert TrashEntry.from_wire(FILE_ITEM).to_wire() == FILE_ITEM
    assert TrashEntry.from_wire(FOLDER_INSIDE).to_wire() == FOLDER_INSIDE
    report = UsageReport.from_wire(USAGE)
    assert report.to_wire() == USAGE and report.total == Usage(2, 4, 3, 9) == report.namespaces[0].usage
    assert Usage(1, 2, 3, 4) + Usage(10, 20, 30, 40) == Usage(11, 22, 33, 44)
    assert PurgeResult.from_wire({"files": 1, "freed_bytes": 6, "done": True}) == PurgeResult(1, 6, True)


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (TrashEntry, {**FILE_ITEM, "kind": "link"}, "trash entry: unknown kind 'link'"),
        (TrashEntry, {k: v for k, v in FILE_ITEM.items() if k != "size"}, "trash entry: field 'size'"),
        (TrashEntry, {k: v for k, v in FILE_ITEM.items() if k != "files"}, "trash entry: field 'files'"),
        (TrashEntry, {**FILE_ITEM, "path": "/a/../b"}, "trash entry: field 'path' is not a valid path"),
        (TrashEntry, {**FILE_ITEM, "deleted": "today"}, "trash entry: field 'deleted'"),
        (TrashPage, {"entries": [FILE_ITEM], "cursor": "c"}, "trash listing: field 'has_more'"),
        (UsageReport, {**USAGE, "used_bytes": None}, "usage: field 'used_bytes'"),
        (UsageReport, {**USAGE, "namespaces": [{"ns_id": 1}]}, "namespace usage: field 'kind'"),
        (PurgeResult, {"files": 1, "freed_bytes": 6}, "purge answer: field 'done'"),
    ],
)
def test_malformed_answers_are_protocol_errors(cls, value, message):
    with pytest.raises(ProtocolError, match=message):
        cls.from_wire(value)


@s.QUICK
@given(s.trash_restores, s.trash_purges, s.restores)
def test_the_requests_round_trip(restore, purge, file_restore):
    assert_round_trip(restore)
    assert_round_trip(purge)
    assert_round_trip(file_restore)


def test_requests_leave_out_what_they_do_not_name():
    assert TrashRestore("/a").to_wire() == {"path": "/a"}
    assert TrashPurge(all=True).to_wire() == {"all": True}
    assert TrashPurge("/a", 3).to_wire() == {"path": "/a", "id": 3}
    assert Restore("/a", version=2).to_wire() == {"path": "/a", "version": 2}


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (TrashRestore, {"id": 1}, "path must be a string"),
        (TrashRestore, {"path": "/a", "id": 0}, "id must be a positive integer"),
        (TrashRestore, {"path": "/a", "id": 2**62}, "id must be a positive integer"),
        (TrashRestore, {"path": "/a", "id": "1"}, "id must be a positive integer"),
        (TrashPurge, {}, "name a path to purge, or send all: true"),
        (TrashPurge, {"path": "/"}, "to empty the whole trash, send all: true"),
        (TrashPurge, {"all": "yes"}, "all must be true or false"),
        (TrashPurge, {"all": True, "path": "/a"}, "purge either all, or a path"),
        (TrashPurge, {"all": True, "id": 2}, "purge either all, or a path"),
        (TrashPurge, {"path": "/a", "id": True}, "id must be a positive integer"),
        (Restore, {"path": "/a"}, "either rev or version"),
        (Restore, {"path": "/a", "rev": 1, "version": 1}, "either rev or version"),
        (Restore, {"path": "/a", "version": 2**31}, "version must be a positive integer below 2"),
        (Restore, {"path": "/a", "rev": 2**63}, "rev must be a positive integer below 2"),
        (Restore, {"path": "a", "rev": 1}, "path must start with"),
    ],
)
def test_malformed_requests_are_400(cls, value, message):
    with pytest.raises((BadRequest, BadPath), match=message):
        cls.from_wire(value)
