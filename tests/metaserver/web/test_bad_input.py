"""Input that must be answered 4xx, never 500 (each of these logged a traceback and answered 500)."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from metaserver.changes.cursor import Cursor
from protocol import codec


@pytest.fixture
def no_tracebacks(caplog):
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


async def json_error(api, endpoint: str, body: dict) -> tuple[int, str]:
    """A JSON request (JSON numbers have no size limit; msgpack's stop at 64 bits)."""
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    async with api.session.post(api.url + endpoint, data=json.dumps(body), headers=headers) as r:
        answer = await r.json()
        return r.status, answer["error"]["code"] if r.status >= 400 else answer


async def _file(api) -> int:
    up = await api.ok("POST", "/v1/uploads", {"path": "/e.txt", "size": 0, "blocks": []})
    return (await api.ok("POST", f"/v1/uploads/{up['upload_id']}/commit"))["rev"]


async def test_restore_of_a_revision_past_bigint(api, no_tracebacks):
    await _file(api)
    for rev in (2**70, 2**63):
        status, code = await json_error(api, "/v1/files/restore", {"path": "/e.txt", "rev": rev})
        assert (status, code) == (400, "bad_request")


async def test_block_list_from_an_index_past_int(api, no_tracebacks):
    await _file(api)
    status, code = await api.error("GET", "/v1/files/blocks", path="/e.txt", start="2147483648")
    assert (status, code) == (400, "bad_request")
    status, code = await api.error("GET", "/v1/files/blocks", path="/e.txt", rev=str(2**63))
    assert (status, code) == (400, "bad_request")


async def test_list_cursor_that_decodes_to_nul_or_junk(api, no_tracebacks):
    for raw in (b"\x00", b"/a\x00b", b"\xff\xfe", b"x" * 5000):
        cursor = base64.urlsafe_b64encode(raw).decode()
        status, code = await api.error("GET", "/v1/files/list", path="/", cursor=cursor)
        assert (status, code) == (400, "bad_request")


async def test_change_cursor_that_decodes_to_nul_or_huge_numbers(api, no_tracebacks):
    def forged(*fields) -> str:
        return "c1." + base64.urlsafe_b64encode(codec.pack(list(fields))).decode().rstrip("=")

    ns = Cursor.decode((await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]).ns_id
    for cursor in (forged(ns, 0, "/a\x00"), forged(ns, 2**64 - 1, None), forged(2**64 - 1, 0, None),
                   "c1.%%%", "c1." + "A" * 7, "c1." + "\u00e9"):  # fmt: skip
        status, answer = await api.call("GET", "/v1/changes", cursor=cursor)
        assert status in (400, 410), answer
        status, answer = await api.call("GET", "/v1/changes/longpoll", cursor=cursor)
        assert status in (400, 410), answer


async def test_upload_with_a_parent_rev_past_bigint(api, no_tracebacks):
    body = {"path": "/p.txt", "size": 0, "blocks": [], "mode": "update", "parent_rev": 2**70}
    status, code = await json_error(api, "/v1/uploads", body)
    assert (status, code) == (400, "bad_request")
    status, code = await api.error("POST", "/v1/files/delete", {"path": "/p.txt", "if_rev": 2**64 - 1})
    assert (status, code) == (400, "bad_request")
    status, answer = await json_error(api, "/v1/files/blocks_batch", {"files": [{"path": "/p.txt", "rev": 2**80}]})
    assert status == 200 and answer["files"][0]["error"]["code"] == "bad_request"  # the item's own error
