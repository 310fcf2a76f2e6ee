"""docs/openapi.yaml: every route is in it, and the live servers hold against what it generates.

The fuzz runs ``tessera-server run`` in a subprocess (so its log can be read for tracebacks)
against a real PostgreSQL, logged in as a real user, and sends schemathesis' cases for every
operation to the port that serves it (metadata, block, notify): positive and negative ones,
in JSON. What schemathesis cannot send is sent by hypothesis from the message types: msgpack
bodies for every route that takes a body, and raw block bodies with forged framing. No answer
may be a 5xx and the server may log no traceback. Bounded for ``make test`` (examples per
operation, a total time); ``-m soak`` runs it longer and without a fixed seed.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from metaserver.changes import notify_connection as notify
from metaserver.core.bodies import declared_limits
from metaserver.core.users import create_user
from protocol import blockbatch, codec
from tests.protocol.strategies import json_values
from tests.serverproc import server_process

log = logging.getLogger(__name__)
DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
#: the routes of the notify endpoint (its own HTTP server, no aiohttp router to list them)
NOTIFY_ROUTES = (notify.PATH, notify.HEALTH_LIVE, *notify.HEALTH_READY, notify.METRICS_PATH)
METHODS = ("get", "put", "post", "delete", "head", "options")


def _doc() -> dict:
    return yaml.safe_load(DOC.read_text())


def _apps(server_config):
    from blockserver.app import create_app as block_app
    from metaserver.app import create_app as meta_app

    return meta_app(replace(server_config, block_urls=("http://127.0.0.1:9",))), block_app(server_config)


def _page_routes() -> set[tuple[str, str]]:
    """The web app's routes (HTML pages, their forms, static files and the page's poll, outside
    /v1: docs/web.md), which this document does not describe; tests/metaserver/pages/
    test_pages_fuzz.py sends them hostile requests as the fuzz run below does the API."""
    from aiohttp import web

    from metaserver.pages import app as pages

    app = web.Application()
    pages.setup(app)
    return {(r.method, r.resource.get_info().get("path") or r.resource.get_info()["formatter"])
            for r in app.router.routes()}  # fmt: skip


def test_every_route_of_every_port_is_documented(server_config):
    doc = _doc()
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}
    registered = {("GET", path) for path in NOTIFY_ROUTES}
    limits: dict[tuple[str, str], int] = {}
    for app in _apps(server_config):
        for route in app.router.routes():
            info = route.resource.get_info()
            registered.add((route.method, info.get("path") or info["formatter"]))
        limits.update(declared_limits(app))
    # aiohttp adds a HEAD to every GET; only the block GET documents its HEAD
    registered = {(m, p) for m, p in registered if m != "HEAD" or p == "/v1/blocks/{block_id}"}
    pages = _page_routes()
    assert pages and not any(p.startswith("/v1/") for _, p in pages)  # every /v1 route is described
    registered -= pages
    assert registered - documented == set(), "routes missing from docs/openapi.yaml"
    assert documented - registered == set(), "docs/openapi.yaml documents routes no server has"
    for (method, path), limit in limits.items():
        if (method, path) in pages:
            continue
        op = doc["paths"][path].get(method.lower(), {})
        if "requestBody" in op or "x-body-limit" in op:
            assert op.get("x-body-limit") == limit, f"{method} {path}: x-body-limit is not the route's limit {limit}"
    for path in NOTIFY_ROUTES:  # documented on the notify port too
        servers = [s["url"] for s in doc["paths"][path].get("servers", doc["servers"])]
        assert any(url.endswith(":8082") for url in servers), f"{path} is not documented on the notify port"
    for path in ("/metrics", "/v1/health", "/v1/health/live", "/v1/health/ready"):  # on every port
        ports = {s["url"].rsplit(":", 1)[1] for s in doc["paths"][path]["servers"]}
        assert ports == {"8080", "8081", "8082"}, path


# -- the fuzz run -------------------------------------------------------------------------------


def _targets(doc: dict, urls: dict[str, str]) -> list[tuple[str, str, str]]:
    """(method, path, base URL) of every operation, on each port that serves it; those that may sign
    the device out last."""
    out = []
    for path, item in doc["paths"].items():
        servers = [s["url"] for s in item.get("servers", doc["servers"])]
        for method in item:
            if method not in METHODS:
                continue
            for server in servers:
                port = server.rsplit(":", 1)[1]
                out.append((method, path, urls[port]))
    return sorted(out, key=lambda t: t[1] in SIGNS_OUT)


#: routes that may sign the fuzzing device out: fuzzed last
SIGNS_OUT = ("/v1/devices/revoke", "/v1/auth/logout")


def _case_runner(op, mode, base: str, token: str, session, problems: list[str], examples: int, seeded: bool):
    """A hypothesis test sending the operation's cases (of ``mode``) to ``base``, noting 5xx answers."""
    headers = {"Authorization": f"Bearer {token}"} if op.path != "/v1/auth/logout" else None

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seeded,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=20)
        if response.status_code >= 500 and response.status_code != 503:
            problems.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

    return run


def _fuzz(doc: dict, urls: dict[str, str], token: str, examples: int, budget: float, seeded: bool) -> list[str]:
    """Run schemathesis' cases against the live servers; the problems found (5xx answers)."""
    import schemathesis
    from schemathesis import GenerationMode

    # a block batch body is raw bytes, as far as the fuzzer goes (its framing: _fuzz_msgpack_and_raw)
    schemathesis.serializer.alias(blockbatch.CONTENT_TYPE, "application/octet-stream")
    schema = schemathesis.openapi.from_dict(doc)
    ops = {(op.method.lower(), op.path): op for op in (r.ok() for r in schema.get_all_operations())}
    problems: list[str] = []
    deadline = time.monotonic() + budget
    session = requests.Session()
    for method, path, base in _targets(doc, urls):
        op = ops[(method, path)]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() > deadline:  # a loaded machine: what is left is not fuzzed this time
                log.warning("the fuzz run stopped at its %g s budget, before %s %s", budget, method.upper(), path)
                return problems

            run = _case_runner(op, mode, base, token, session, problems, examples, seeded)
            try:
                run()
            except Unsatisfiable:
                pass  # nothing to vary (no negative case of an operation without parameters or body)
    return problems


async def _user(database_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await create_user(conn, "fuzz", "pw-fuzz-fuzz", 1 << 30)
    finally:
        await conn.close()


async def _run_fuzz(database_url: str, tmp_path: Path, examples: int, budget: float, seeded: bool) -> None:
    await _user(database_url)
    limits = ("--rate-limit", "0", "--login-rate-limit", "0", "--login-address-rate-limit", "0", "--search-rate-limit", "0")
    async with server_process(database_url, tmp_path / "srv", *limits) as srv:
        login = await asyncio.to_thread(
            requests.post, srv.meta_url + "/v1/auth/login", json={"user": "fuzz", "password": "pw-fuzz-fuzz"}, timeout=10
        )
        token = login.json()["token"]
        urls = {"8080": srv.meta_url, "8081": srv.block_url, "8082": srv.notify_url}
        problems = await asyncio.to_thread(_fuzz, _doc(), urls, token, examples, budget, seeded)
        problems += await asyncio.to_thread(_fuzz_msgpack_and_raw, srv.meta_url, srv.block_url, token, examples, seeded)
        log = srv.log()
    assert not problems, "\n".join(problems[:20])
    assert "Traceback" not in log, log[-5000:]
    assert " ERROR " not in log, log[-5000:]


@pytest.mark.timeout(400)
async def test_fuzz_the_live_servers(database_url, tmp_path):
    await _run_fuzz(database_url, tmp_path, examples=6, budget=150.0, seeded=True)


@pytest.mark.soak
@pytest.mark.timeout(4000)
async def test_fuzz_the_live_servers_longer(database_url, tmp_path):
    await _run_fuzz(database_url, tmp_path, examples=200, budget=3600.0, seeded=False)


# -- what schemathesis does not send: msgpack bodies, raw block bodies -----------------------------

BODY_ROUTES = [
    "/v1/auth/login", "/v1/uploads", "/v1/uploads/batch", "/v1/uploads/commit_batch",
    "/v1/uploads/0123456789abcdef0123456789abcdef/blocks", "/v1/uploads/0123456789abcdef0123456789abcdef/commit",
    "/v1/files/blocks_batch", "/v1/files/mkdir", "/v1/files/delete", "/v1/files/move", "/v1/files/restore",
    "/v1/auth/logout",
]  # fmt: skip

#: message-shaped values: the fields the routes read, with any JSON-like value in them
_fields = st.sampled_from(["path", "size", "blocks", "mode", "parent_rev", "user", "password", "device", "files",
                           "upload_ids", "start", "rev", "if_rev", "from", "to", "content_hash", "blocks_complete",
                           "client_modified", "md5", "sha256"])  # fmt: skip
_values = st.recursive(
    json_values,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_fields, inner, max_size=6)),
    max_leaves=20,
)
messages = st.dictionaries(_fields, _values, max_size=6)


def _fuzz_msgpack_and_raw(meta: str, block: str, token: str, examples: int, seeded: bool) -> list[str]:
    problems: list[str] = []
    session = requests.Session()
    auth = {"Authorization": f"Bearer {token}"}

    def check(r: requests.Response, what: str) -> None:
        if r.status_code >= 500 and r.status_code != 503:
            problems.append(f"{what} -> {r.status_code}: {r.text[:200]}")

    common = dict(max_examples=examples * 8, deadline=None, database=None, derandomize=seeded,
                  suppress_health_check=list(HealthCheck))  # fmt: skip

    @settings(**common)
    @given(route=st.sampled_from(BODY_ROUTES[:-1]), body=st.one_of(messages, json_values), raw=st.booleans())
    def msgpack_bodies(route, body, raw) -> None:
        data = codec.pack(body) if not raw else codec.pack(body)[: max(1, len(codec.pack(body)) // 2)]
        headers = {**auth, "Content-Type": codec.MSGPACK, "Accept": codec.MSGPACK}
        check(session.post(meta + route, data=data, headers=headers, timeout=20), f"POST {route} (msgpack)")

    @settings(**common)
    @given(block_id=st.one_of(st.uuids().map(lambda u: u.hex), st.text(max_size=40)), data=st.binary(max_size=5000),
           grant=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=200),
           length=st.one_of(st.none(), st.integers(0, 10_000)))  # fmt: skip
    def raw_block_puts(block_id, data, grant, length) -> None:
        headers = {**auth, "X-Tessera-Grant": grant}
        if length is not None:
            headers["Content-Length"] = str(min(length, len(data)))
            data = data[: min(length, len(data))]
        safe = requests.utils.quote(block_id, safe="")
        check(session.put(f"{block}/v1/blocks/{safe}", data=data, headers=headers, timeout=20), "PUT /v1/blocks/{id}")

    @settings(**common)
    @given(frames=st.lists(st.tuples(st.one_of(messages, json_values), st.binary(max_size=300)), max_size=4),
           lie=st.integers(0, 70000))  # fmt: skip
    def raw_block_batches(frames, lie) -> None:
        body = b""
        for header, data in frames:
            packed = codec.pack(header)
            body += struct.pack(">I", lie if lie and not body else len(packed)) + packed + data
        headers = {**auth, "Content-Type": blockbatch.CONTENT_TYPE}
        check(session.post(f"{block}/v1/blocks/batch", data=body, headers=headers, timeout=20), "POST /v1/blocks/batch")

    msgpack_bodies()
    raw_block_puts()
    raw_block_batches()
    return problems
