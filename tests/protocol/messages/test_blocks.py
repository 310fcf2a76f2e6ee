"""protocol/messages/blocks.py: a file version's block list, single and in batches."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import IsAFolder, NotFound, ProtocolError
from protocol.messages.blocks import BlockPage, RemoteBlock

from .. import strategies as s
from .roundtrip import assert_round_trip

BLOCK = {"index": 0, "block_id": "0" * 32, "size": 3, "md5": "AB" * 16, "sha256": "CD" * 32, "grant": "g"}
PAGE = {
    "rev": 4, "path": "/f", "size": 3, "content_hash": "EF" * 32, "modified": 1.5, "client_modified": None,
    "total": 1, "start": 0, "blocks": [BLOCK], "block_servers": ["http://127.0.0.1:8081"],
}  # fmt: skip


@s.FAST
@given(s.block_pages)
def test_a_page_round_trips(page):
    assert_round_trip(page)


@s.QUICK
@given(st.lists(s.block_pages | st.sampled_from([NotFound("no revision 3"), IsAFolder("/d")]), max_size=4), s.urls)
def test_a_batch_round_trips(items, servers):
    pages = [dataclasses.replace(p, block_servers=servers) if isinstance(p, BlockPage) else p for p in items]
    back = BlockPage.list_from_batch(BlockPage.batch_to_wire(pages, servers), len(pages))
    assert [b if isinstance(b, BlockPage) else (type(b), b.message) for b in back] == [
        p if isinstance(p, BlockPage) else (type(p), p.message) for p in pages
    ]


def test_the_wire_order_has_the_block_servers_last_and_a_batch_names_them_once():
    page = BlockPage.from_wire(PAGE)
    assert list(page.to_wire()) == list(PAGE)
    batch = BlockPage.batch_to_wire([page, NotFound("gone")], ["http://127.0.0.1:8081"])
    assert list(batch) == ["block_servers", "files"]
    assert "block_servers" not in batch["files"][0] and batch["files"][1] == {"error": {"code": "not_found", "message": "gone"}}


def test_hashes_are_read_lowercase_and_the_file_time_prefers_the_uploaders():
    page = BlockPage.from_wire(PAGE)
    assert (page.content_hash, page.blocks[0].md5, page.blocks[0].sha256) == ("ef" * 32, "ab" * 16, "cd" * 32)
    assert page.file_time == 1.5
    assert BlockPage.from_wire({**PAGE, "client_modified": 9}).file_time == 9.0
    older = {k: v for k, v in PAGE.items() if k not in ("modified", "client_modified")}
    assert BlockPage.from_wire(older).file_time is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({**PAGE, "block_servers": "http://x"}, "block list: field 'block_servers'"),
        ({**PAGE, "block_servers": ["http://x", 5]}, "block list: block_servers must be URLs"),
        ({**PAGE, "total": None}, "block list: field 'total'"),
        ({**PAGE, "blocks": [{**BLOCK, "grant": None}]}, "file block: field 'grant'"),
        ({**PAGE, "blocks": [{**BLOCK, "md5": 5}]}, "file block: field 'md5'"),
        ({**PAGE, "blocks": ["x"]}, "file block: expected an object, got str"),
        ({**PAGE, "modified": "now"}, "block list: field 'modified'"),
    ],
)
def test_malformed_pages_are_protocol_errors(value, message):
    with pytest.raises(ProtocolError, match=message):
        BlockPage.from_wire(value)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"block_servers": [], "files": []}, "no 'files' list of 1 items"),
        ([], "no 'files' list of 1 items"),
        ({"block_servers": [], "files": [7]}, "block list: expected an object, got int"),
        ({"files": [{**PAGE, "block_servers": None}]}, "block list: field 'block_servers'"),
    ],
)
def test_malformed_batches_are_protocol_errors(answer, message):
    with pytest.raises(ProtocolError, match=message):
        BlockPage.list_from_batch(answer, 1)


def test_a_remote_block_is_read_from_keywords_too():
    assert RemoteBlock.from_wire(BLOCK) == RemoteBlock(0, "0" * 32, 3, "ab" * 16, "cd" * 32, "g")
