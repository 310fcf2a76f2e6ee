"""One access log line per request, with the request id the client sent (one per operation),
carried through the metadata server and the block server; the JSON log format."""

from __future__ import annotations

import json
import logging
import random

import aiohttp

from client import TesseraClient
from client.api.requestid import operation
from metaserver.cli.logs import JsonFormatter
from metaserver.core.requestlog import RequestIdFilter
from protocol.hashing import BLOCK_SIZE


def _access(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tessera.access"]


async def test_an_upload_is_one_request_id_across_both_servers(servers, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tessera.access")
    user_id = await servers.add_user()
    src = tmp_path / "f.bin"
    src.write_bytes(random.Random(2).randbytes(BLOCK_SIZE + 10))
    async with TesseraClient(servers.meta_url) as client:
        await client.login("alice", "secret-pw", "log-test")
        caplog.clear()
        await client.upload_file(src, "/f.bin")
        upload = _access(caplog)
        caplog.clear()
        await client.download_file("/f.bin", tmp_path / "back.bin")
        download = _access(caplog)
        caplog.clear()
        with operation("my-op-1"):
            await client.meta("/f.bin")
            await client.account()
        chosen = _access(caplog)

    routes = {(r.method, r.route) for r in upload}
    assert {("POST", "/v1/uploads"), ("PUT", "/v1/blocks/{block_id}"), ("POST", "/v1/uploads/{upload_id}/commit")} <= routes
    assert len({r.request_id for r in upload}) == 1  # one operation, one id, on both servers
    assert len({r.request_id for r in download}) == 1 and download[0].request_id != upload[0].request_id
    assert [r.request_id for r in chosen] == ["my-op-1", "my-op-1"]
    for r in upload + download + chosen:
        assert r.status == 200 and r.user_id == user_id and r.duration_ms >= 0
        assert f"rid={r.request_id}" in r.getMessage() and f"user={user_id}" in r.getMessage()
    puts = [r for r in upload if r.method == "PUT"]
    assert len(puts) == 2 and sum(r.bytes_in for r in puts) == BLOCK_SIZE + 10
    gets = [r for r in download if r.route == "/v1/blocks/{block_id}"]
    assert sum(r.bytes_out for r in gets) == BLOCK_SIZE + 10


async def test_the_answer_names_the_request_id_and_bad_ids_are_replaced(servers, caplog):
    caplog.set_level(logging.DEBUG, logger="tessera.access")
    async with aiohttp.ClientSession() as http:
        async with http.get(servers.meta_url + "/v1/account", headers={"X-Request-Id": "abc-123"}) as r:
            assert r.status == 401 and r.headers["X-Request-Id"] == "abc-123"
        async with http.get(servers.block_url + "/v1/nowhere", headers={"X-Request-Id": "evil\tline"}) as r:
            assert r.status == 404
            made = r.headers["X-Request-Id"]
            assert made != "evil\tline" and len(made) == 16
        async with http.get(servers.meta_url + "/metrics") as r:
            assert r.status == 200
    lines = _access(caplog)
    assert [(r.route, r.status, r.request_id, r.levelno) for r in lines] == [
        ("/v1/account", 401, "abc-123", logging.INFO),
        ("/v1/nowhere", 404, made, logging.INFO),  # no route: the path, bounded
        ("/metrics", 200, lines[2].request_id, logging.DEBUG),  # scrapes and health checks: DEBUG
    ]


def test_json_log_lines_carry_the_access_fields_and_request_id():
    record = logging.LogRecord("tessera.access", logging.INFO, __file__, 1, "GET %s %d", ("/v1/x", 200), None)
    for k, v in {"method": "GET", "route": "/v1/x", "status": 200, "bytes_in": 0, "bytes_out": 12,
                 "duration_ms": 1.5, "user_id": 7, "request_id": "r-1"}.items():  # fmt: skip
        setattr(record, k, v)
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "GET /v1/x 200" and doc["level"] == "info" and doc["logger"] == "tessera.access"
    assert (doc["request_id"], doc["status"], doc["user_id"], doc["bytes_out"]) == ("r-1", 200, 7, 12)
    other = logging.LogRecord("metaserver.x", logging.WARNING, __file__, 1, "boom", (), None)
    RequestIdFilter().filter(other)  # outside a request: no id
    assert "request_id" not in json.loads(JsonFormatter().format(other))
