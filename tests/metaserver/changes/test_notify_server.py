"""The notify endpoint: long-polls on their own HTTP/1.1 server, spoken to over raw sockets."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from urllib.parse import urlencode

import pytest

from protocol import codec
from tests.conftest import start_site


@dataclass
class Notify:
    """The metadata server (aiohttp, ``api``) and its notify endpoint (``port``), alice logged in."""

    app: object
    port: int
    token: str


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: object


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers["content-length"]))
    ctype = headers["content-type"]
    body = json.loads(raw) if ctype == codec.JSON else codec.unpack(raw)
    return Answer(int(head[0].split()[1]), headers, body)


def request(token: str | None, path: str = "/v1/changes/longpoll", *, method: str = "GET",
            accept: str = codec.JSON, extra: str = "", **query) -> bytes:  # fmt: skip
    target = f"{path}?{urlencode(query)}" if query else path
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"{method} {target} HTTP/1.1\r\nHost: x\r\n{auth}Accept: {accept}\r\n{extra}\r\n".encode()


class Conn:
    """One raw keep-alive connection to the notify endpoint."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def ask(self, data: bytes) -> Answer:
        self.writer.write(data)
        return await read_answer(self.reader)

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def notify(api, server_config):
    """The ``api`` fixture's server is started without access to its app: start one of our own."""
    from metaserver.app import create_app
    from metaserver.keys import NOTIFY_SERVER

    app = create_app(replace(server_config, block_urls=("http://127.0.0.1:9",)))
    runner, url = await start_site(app)
    api.url = url
    try:
        yield Notify(app, app[NOTIFY_SERVER].port, api.token)
    finally:
        await runner.cleanup()


async def latest(api) -> str:
    return (await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]


async def test_the_metadata_server_names_its_notify_endpoint(api, notify, server_config):
    answer = await api.ok("GET", "/v1/changes/notify")
    assert answer == {"url": f"http://127.0.0.1:{notify.port}/v1/changes/longpoll"}
    from metaserver.app import create_app

    configured = replace(server_config, block_urls=("http://127.0.0.1:9",), notify_url="https://notify.example")
    runner, url = await start_site(create_app(configured))
    try:
        other = type(api)(api.session, url, api.token)
        assert await other.ok("GET", "/v1/changes/notify") == {"url": "https://notify.example/v1/changes/longpoll"}
    finally:
        await runner.cleanup()


async def test_commit_wakes_the_poll_and_the_connection_is_kept(api, notify):
    conn = await Conn.open(notify.port)
    try:
        cursor = await latest(api)
        poll = asyncio.create_task(conn.ask(request(notify.token, cursor=cursor, timeout=60)))
        await asyncio.sleep(0.3)
        assert not poll.done()
        await api.ok("POST", "/v1/files/mkdir", {"path": "/wake"})
        answer = await asyncio.wait_for(poll, 20)
        assert (answer.status, answer.body) == (200, {"changes": True})
        assert answer.headers["connection"] == "keep-alive" and "date" in answer.headers
        # the same connection: behind the journal now, so answered at once, in msgpack if asked
        again = await conn.ask(request(notify.token, accept=codec.MSGPACK, cursor=cursor))
        assert again.headers["content-type"] == codec.MSGPACK and again.body == {"changes": True}
        # an empty cursor: answered at once too
        assert (await conn.ask(request(notify.token, cursor=""))).body == {"changes": True}
    finally:
        await conn.close()


async def test_pipelined_requests_are_answered_in_order(api, notify):
    old = await latest(api)
    await api.ok("POST", "/v1/files/mkdir", {"path": "/a"})  # the cursor is behind now
    conn = await Conn.open(notify.port)
    try:
        conn.writer.write(request(notify.token, cursor=old) + request(notify.token, cursor="garbage"))
        first, second = await read_answer(conn.reader), await read_answer(conn.reader)
        assert first.body == {"changes": True}
        assert second.status == 400 and second.body["error"]["code"] == "bad_request"
    finally:
        await conn.close()


async def test_a_request_pipelined_behind_a_held_poll_waits_its_turn(api, notify):
    conn = await Conn.open(notify.port)
    try:
        cursor = await latest(api)
        conn.writer.write(request(notify.token, cursor=cursor, timeout=60))
        conn.writer.write(request(notify.token, extra="Connection: close\r\n", cursor=""))
        await asyncio.sleep(0.3)
        await api.ok("POST", "/v1/files/mkdir", {"path": "/wake"})
        first = await asyncio.wait_for(read_answer(conn.reader), 20)
        assert first.body == {"changes": True} and first.headers["connection"] == "keep-alive"
        second = await read_answer(conn.reader)
        assert second.body == {"changes": True} and second.headers["connection"] == "close"
        assert await conn.closed_by_server()
    finally:
        await conn.close()


async def test_only_commits_in_the_polled_namespace_wake_it(api, meta, notify, pool, monkeypatch):
    from metaserver.changes import longpoll as polls
    from metaserver.core.users import create_user

    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-long")
    bob = await meta.ok("POST", "/v1/auth/login", {"user": "bob", "password": "pw-bob-long"})
    monkeypatch.setattr(polls, "LONGPOLL_MIN", 1)
    conn = await Conn.open(notify.port)
    try:
        poll = asyncio.create_task(conn.ask(request(notify.token, cursor=await latest(api), timeout=2)))
        await asyncio.sleep(0.3)
        status, _ = await meta.call("POST", "/v1/files/mkdir", {"path": "/bobs"}, token=bob["token"])
        assert status == 200
        answer = await asyncio.wait_for(poll, 20)  # the timeout's answer, not bob's commit
        assert (answer.status, answer.body) == (200, {"changes": False})
    finally:
        await conn.close()


async def test_commit_on_another_instance_wakes_the_poll(api, notify, server_config):
    """Two metadata servers on one database: a commit through one wakes a poll held by the other's notify endpoint."""
    from metaserver.app import create_app

    runner_b, url_b = await start_site(create_app(replace(server_config, block_urls=("http://127.0.0.1:9",))))
    conn = await Conn.open(notify.port)
    try:
        poll = asyncio.create_task(conn.ask(request(notify.token, cursor=await latest(api), timeout=60)))
        await asyncio.sleep(0.3)
        assert not poll.done()
        other = type(api)(api.session, url_b, api.token)
        await other.ok("POST", "/v1/files/mkdir", {"path": "/via-instance-b"})
        assert (await asyncio.wait_for(poll, 20)).body == {"changes": True}
    finally:
        await conn.close()
        await runner_b.cleanup()


async def test_errors_are_the_metadata_servers_errors(api, notify):
    from metaserver.changes.cursor import Cursor

    conn = await Conn.open(notify.port)
    try:
        cursor = await latest(api)
        cases = [
            (request("tsr_unknown", cursor=cursor), 401, "unauthorized"),
            (request(None, cursor=cursor), 401, "unauthorized"),
            (request(notify.token, cursor="garbage"), 400, "bad_request"),
            (request(notify.token, cursor=cursor, timeout=5), 400, "bad_request"),
            (request(notify.token, cursor=Cursor(1, 10**9).encode()), 410, "cursor_reset"),
            (request(notify.token, cursor=Cursor(10**6, 0).encode()), 410, "cursor_reset"),
            (request(notify.token, "/v1/files/list"), 404, "not_found"),
            (request(notify.token, method="POST", cursor=cursor), 400, "bad_request"),
        ]
        for data, status, code in cases:  # one keep-alive connection: an error does not close it
            answer = await conn.ask(data)
            assert (answer.status, answer.body["error"]["code"]) == (status, code), data
    finally:
        await conn.close()


async def test_malformed_or_oversized_requests_are_answered_and_closed(notify):
    from metaserver.changes import notify_connection

    conn = await Conn.open(notify.port)
    answer = await conn.ask(b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.status == 400 and answer.headers["connection"] == "close"
    assert await conn.closed_by_server()
    await conn.close()
    conn = await Conn.open(notify.port)
    conn.writer.write(b"GET /v1/changes/longpoll HTTP/1.1\r\nX-Filler: " + b"a" * (notify_connection.MAX_HEAD + 10))
    answer = await read_answer(conn.reader)
    assert answer.status == 400 and "head larger" in answer.body["error"]["message"]
    assert await conn.closed_by_server()
    await conn.close()


async def test_the_token_rate_limit_applies(api, server_config):
    from metaserver.app import create_app
    from metaserver.keys import NOTIFY_SERVER

    app = create_app(replace(server_config, block_urls=("http://127.0.0.1:9",), rate_limit=0.01, rate_burst=2))
    runner, _ = await start_site(app)
    conn = await Conn.open(app[NOTIFY_SERVER].port)
    try:
        answers = [await conn.ask(request(api.token, cursor="")) for _ in range(3)]
        assert [a.status for a in answers] == [200, 200, 429]
        assert answers[2].body["error"]["code"] == "rate_limited" and int(answers[2].headers["retry-after"]) >= 1
    finally:
        await conn.close()
        await runner.cleanup()


async def test_a_listener_reconnect_rechecks_the_journal(api, notify, pool):
    """Woken without a sequence number (the LISTEN connection was lost), a poll asks the journal."""
    from metaserver.keys import NOTIFIER

    conn = await Conn.open(notify.port)
    try:
        cursor = await latest(api)
        poll = asyncio.create_task(conn.ask(request(notify.token, cursor=cursor, timeout=60)))
        await asyncio.sleep(0.3)
        notifier = notify.app[NOTIFIER]
        notifier._wake_all()  # nothing changed: the poll stays held
        await asyncio.sleep(0.3)
        assert not poll.done() and notifier.waiting == 1
        async with pool.acquire() as db:  # a change whose NOTIFY was missed
            await db.execute("UPDATE namespaces SET last_seq = last_seq + 1")
        notifier._wake_all()
        assert (await asyncio.wait_for(poll, 20)).body == {"changes": True}
        assert notifier.waiting == 0
    finally:
        await conn.close()


async def test_shutdown_answers_held_polls_with_a_backoff_and_closes(api, server_config):
    from metaserver.app import create_app
    from metaserver.keys import NOTIFIER, NOTIFY_SERVER

    app = create_app(replace(server_config, block_urls=("http://127.0.0.1:9",)))
    runner, url = await start_site(app)
    api.url = url
    conn = await Conn.open(app[NOTIFY_SERVER].port)
    idle = await Conn.open(app[NOTIFY_SERVER].port)
    try:
        poll = asyncio.create_task(conn.ask(request(api.token, cursor=await latest(api), timeout=60)))
        await asyncio.sleep(0.3)
        assert app[NOTIFIER].waiting == 1
        await runner.cleanup()
        answer = await asyncio.wait_for(poll, 20)
        assert answer.body == {"changes": False, "backoff": 1} and answer.headers["connection"] == "close"
        assert await conn.closed_by_server() and await idle.closed_by_server()
    finally:
        await conn.close()
        await idle.close()
