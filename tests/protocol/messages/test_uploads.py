"""protocol/messages/uploads.py: upload requests and their checks, block list parts, sessions."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given

from protocol import hashing
from protocol.errors import BadPath, BadRequest, IsAFolder, ProtocolError
from protocol.hashing import BLOCK_SIZE, BlockHash
from protocol.messages.uploads import (
    UPLOAD_MODES,
    BlocksPart,
    UploadBlock,
    UploadRequest,
    UploadSession,
    check_block_sizes,
    check_mode,
)

from .. import strategies as s
from .roundtrip import assert_round_trip

BLOCK = BlockHash(3, "a" * 32, "b" * 64)
REQUEST = {"path": "/f", "size": 3, "blocks": [BLOCK.to_wire()]}
SESSION = {
    "upload_id": "0" * 32, "path": "/f", "size": 3, "content_hash": "c" * 64, "expires_at": 10.5,
    "block_servers": ["http://b"], "blocks": [{"index": 0, "block_id": "1" * 32, "state": "needed", "grant": "g"}],
    "needed": 1, "blocks_listed": 1, "blocks_complete": True,
}  # fmt: skip


@s.FAST
@given(s.upload_requests())
def test_a_request_round_trips(request):
    assert_round_trip(request)


@s.QUICK
@given(s.blocks_parts)
def test_a_part_round_trips(part):
    assert_round_trip(part)


@s.FAST
@given(s.upload_sessions())
def test_a_session_round_trips(session):
    assert_round_trip(session)


@s.QUICK
@given(s.upload_sessions())
def test_a_batch_answers_a_complete_session_without_its_list_progress(session):
    session = dataclasses.replace(
        session, content_hash=session.content_hash or "e" * 64, blocks_listed=len(session.blocks), blocks_complete=True
    )
    wire = session.to_batch_wire()
    assert "blocks_listed" not in wire and "blocks_complete" not in wire
    assert UploadSession.from_wire(wire) == session


def test_the_request_a_client_sends():
    # the path normalised, fields at their defaults left out, the others in this order
    req = UploadRequest("/Cafe\u0301", 3, [BLOCK])
    assert req.to_wire() == {"path": "/Caf\u00e9", "size": 3, "blocks": [BLOCK.to_wire()]}
    full = UploadRequest("/f", 3, (BLOCK,), "d" * 64, "update", 4, 1.5, False).to_wire()
    assert list(full) == ["path", "size", "blocks", "content_hash", "mode", "parent_rev", "client_modified", "blocks_complete"]
    assert full["blocks_complete"] is False


def test_the_server_computes_the_content_hash_and_checks_the_one_sent():
    want = hashing.content_hash([BLOCK.sha256])
    assert UploadRequest.from_wire(REQUEST).content_hash == want
    assert UploadRequest.from_wire({**REQUEST, "content_hash": want.upper()}).content_hash == want
    opened = UploadRequest.from_wire({**REQUEST, "blocks_complete": False})
    assert opened.content_hash is None and not opened.blocks_complete
    timed = UploadRequest.from_wire({**REQUEST, "client_modified": 7})
    assert timed.client_modified == 7.0 and timed.client_modified_at is not None


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"path": 5}, BadPath, "path must be a string"),
        ({"path": "/"}, IsAFolder, "cannot upload onto the root folder"),
        ({"size": -1}, BadRequest, "size must be an integer in 0..1099511627776"),
        ({"size": True}, BadRequest, "size must be an integer"),
        ({"size": 1 << 41}, BadRequest, "size must be an integer"),
        ({"blocks": {}}, BadRequest, "blocks must be a list"),
        ({"blocks": [{"size": 3}]}, BadRequest, "md5 must be 32 hex digits"),
        ({"size": 4}, BadRequest, "a file of 4 bytes has 1 blocks"),
        ({"blocks_complete": "no"}, BadRequest, "blocks_complete must be true or false"),
        ({"blocks_complete": None}, BadRequest, "blocks_complete must be true or false"),
        ({"blocks_complete": False, "content_hash": "0" * 64}, BadRequest, "content_hash is computed once"),
        ({"content_hash": "zz"}, BadRequest, "content_hash must be 64 hex digits"),
        ({"content_hash": "0" * 64}, BadRequest, "content_hash does not match the blocks' SHA-256s"),
        ({"mode": "replace"}, BadRequest, "mode must be one of overwrite, add, update"),
        ({"mode": None}, BadRequest, "mode must be one of"),
        ({"mode": "update"}, BadRequest, "mode 'update' needs parent_rev"),
        ({"parent_rev": "1"}, BadRequest, "parent_rev must be a positive integer or null"),
        ({"parent_rev": False}, BadRequest, "parent_rev must be a positive integer or null"),
        ({"parent_rev": 0}, BadRequest, "parent_rev must be a positive integer or null"),
        ({"parent_rev": 1 << 63}, BadRequest, "parent_rev must be a positive integer or null"),
        ({"client_modified": -1}, BadRequest, "client_modified must be Unix seconds in 0..32503680000 or null"),
        ({"client_modified": "today"}, BadRequest, "client_modified must be Unix seconds"),
    ],
)
def test_a_malformed_request_is_refused_with_the_servers_message(change, error, message):
    with pytest.raises(error, match=message) as caught:
        UploadRequest.from_wire({**REQUEST, **change})
    assert type(caught.value) is error


def test_a_body_that_is_not_an_object_is_a_bad_request():
    for cls in (UploadRequest, BlocksPart):
        with pytest.raises(BadRequest, match="the body must be an object"):
            cls.from_wire([REQUEST])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"blocks": [BLOCK.to_wire()]}, "start must be the index of the part's first block"),
        ({"start": -1, "blocks": [BLOCK.to_wire()]}, "start must be the index"),
        ({"start": 1 << 31, "blocks": [BLOCK.to_wire()]}, "start must be the index"),
        ({"start": 1, "blocks": []}, "blocks must be a list of 1..10000 blocks"),
        ({"start": 1, "blocks": [BLOCK.to_wire()] * 10_001}, "blocks must be a list of 1..10000 blocks"),
        ({"start": 1, "blocks": [BLOCK.to_wire()], "content_hash": 5}, "content_hash must be 64 hex digits"),
    ],
)
def test_a_malformed_part_is_refused(body, message):
    with pytest.raises(BadRequest, match=message):
        BlocksPart.from_wire(body)


def test_the_modes_are_written_once():
    assert UPLOAD_MODES == ("overwrite", "add", "update")
    for mode in UPLOAD_MODES:
        check_mode(mode)
    with pytest.raises(BadRequest, match="mode must be one of overwrite, add, update"):
        check_mode("append")


def test_block_sizes_are_those_of_the_split():
    big = BlockHash(BLOCK_SIZE, "a" * 32, "b" * 64)
    check_block_sizes(BLOCK_SIZE + 3, 0, [big, BLOCK], complete=True)
    check_block_sizes(BLOCK_SIZE + 3, 0, [big], complete=False)
    check_block_sizes(BLOCK_SIZE + 3, 1, [BLOCK], complete=False)
    with pytest.raises(BadRequest, match="from index 1 does not match"):
        check_block_sizes(BLOCK_SIZE + 3, 1, [big], complete=False)
    with pytest.raises(BadRequest):
        check_block_sizes(BLOCK_SIZE + 3, 0, [big], complete=True)


def test_a_session_while_its_list_is_open_and_as_a_batch_answers_it():
    opened = UploadSession.from_wire({**SESSION, "content_hash": None, "blocks_complete": False})
    assert opened.content_hash == "" and opened.to_wire()["content_hash"] is None
    batch = {k: v for k, v in SESSION.items() if k not in ("blocks_listed", "blocks_complete")}
    read = UploadSession.from_wire(batch)
    assert (read.blocks_listed, read.blocks_complete) == (1, True)
    assert read.to_batch_wire() == batch and read.to_wire() == SESSION
    assert UploadBlock.from_wire({"index": 0, "block_id": "x", "state": "stored"}).to_wire() == {
        "index": 0, "block_id": "x", "state": "stored",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({k: v for k, v in SESSION.items() if k != "content_hash"}, "upload session: field 'content_hash' is missing"),
        ({**SESSION, "content_hash": 5}, "upload session: field 'content_hash'"),
        ({**SESSION, "expires_at": None}, "upload session: field 'expires_at'"),
        ({**SESSION, "block_servers": [1]}, "upload session: block_servers must be URLs"),
        ({**SESSION, "blocks_listed": "1"}, "upload session: field 'blocks_listed'"),
        ({**SESSION, "blocks_complete": 1}, "upload session: field 'blocks_complete'"),
        ({**SESSION, "blocks": [{"index": 0, "block_id": "x", "state": "lost"}]}, "upload block: unknown state 'lost'"),
        ({**SESSION, "blocks": [{"index": 0, "block_id": "x", "state": "needed", "grant": 1}]}, "upload block: field 'grant'"),
    ],
)
def test_a_malformed_session_is_a_protocol_error(value, message):
    with pytest.raises(ProtocolError, match=message):
        UploadSession.from_wire(value)
