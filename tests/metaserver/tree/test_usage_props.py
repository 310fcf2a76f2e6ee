"""The usage counters are exact (metaserver/tree/usage.py): after random sequences of uploads,
overwrites, moves, deletes, restores (from the trash and of old versions), purges, prunes
(with time moving on) and abandoned uploads, each namespace's four counters equal a full
recount, and the current bytes equal what the model of the tree says.

Hypothesis drives a state machine in a thread of its own (with its own event loop), against
the real metadata server and PostgreSQL that the test's loop runs; every example is a new
user, so a new namespace.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from dataclasses import dataclass

import aiohttp
import asyncpg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from metaserver.core import db
from metaserver.core.users import create_user
from metaserver.lifecycle.pruner import PruneReport, prune_namespace
from metaserver.tree import usage
from protocol import codec
from protocol.hashing import BLOCK_SIZE

FILES = ["/a.txt", "/b.txt", "/d/c.txt", "/d/e/f.txt"]
FOLDERS = ["/d", "/d/e"]
#: block kinds: two full blocks and three short last blocks; a file is some full ones and a short one
FULL = ["K0", "K1"]
LAST = {"S0": 1000, "S1": 2500, "S2": 7}
CONTENTS = st.tuples(st.lists(st.sampled_from(FULL), max_size=2), st.sampled_from(sorted(LAST)))
RETENTION_DAYS = 2


def block(kind: str) -> dict:
    size = BLOCK_SIZE if kind in FULL else LAST[kind]
    return {"size": size, "md5": hashlib.md5(kind.encode()).hexdigest(), "sha256": hashlib.sha256(kind.encode()).hexdigest()}


@dataclass
class Shared:
    """What every example uses: the loop of this thread, an HTTP session and a pool in it."""

    loop: asyncio.AbstractEventLoop
    url: str
    http: aiohttp.ClientSession
    pool: asyncpg.Pool


class Usage(RuleBasedStateMachine):
    shared: Shared
    users = itertools.count()

    def run(self, coro):
        return self.shared.loop.run_until_complete(coro)

    async def call(self, method: str, endpoint: str, body=None, **params):
        headers = {"Accept": codec.MSGPACK, "Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = codec.MSGPACK
            data = codec.pack(body)
        async with self.shared.http.request(method, self.shared.url + endpoint, data=data, headers=headers,
                                            params=params) as r:  # fmt: skip
            return r.status, codec.unpack(await r.read())

    async def ok(self, method: str, endpoint: str, body=None, **params):
        status, answer = await self.call(method, endpoint, body, **params)
        assert status == 200, answer
        return answer

    @initialize()
    def new_user(self) -> None:
        name = f"u{next(self.users)}"

        async def go():
            async with self.shared.pool.acquire() as conn:
                user_id = await create_user(conn, name, "password")
                self.ns = await conn.fetchval("SELECT id FROM namespaces WHERE owner_id = $1", user_id)
            self.token = "x"
            async with self.shared.http.post(
                self.shared.url + "/v1/auth/login", json={"user": name, "password": "password", "device": "prop"}
            ) as r:
                self.token = (await r.json())["token"]

        self.run(go())
        #: the live files: path -> size
        self.live: dict[str, int] = {}

    # -- the rules ---------------------------------------------------------------------------

    async def _upload(self, path: str, content, commit: bool = True) -> None:
        full, last = content
        blocks = [block(k) for k in full] + [block(last)]
        size = sum(b["size"] for b in blocks)
        up = await self.ok("POST", "/v1/uploads", {"path": path, "size": size, "blocks": blocks})
        await self.shared.pool.execute(
            "UPDATE blocks SET state = 'stored', stored_at = now() WHERE id = ANY($1::uuid[])",
            [b["block_id"] for b in up["blocks"]],
        )
        if commit:
            await self.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
            self.live[path] = size

    @rule(path=st.sampled_from(FILES), content=CONTENTS)
    def upload(self, path, content):
        self.run(self._upload(path, content))

    @rule(path=st.sampled_from(FILES), content=CONTENTS)
    def abandoned_upload(self, path, content):
        """An upload whose blocks are stored and never committed: they count nowhere."""
        self.run(self._upload(path, content, commit=False))

    @rule(path=st.sampled_from(FILES + FOLDERS))
    def delete(self, path):
        status, _ = self.run(self.call("POST", "/v1/files/delete", {"path": path}))
        if status == 200:
            self.live = {p: s for p, s in self.live.items() if p != path and not p.startswith(path + "/")}

    @rule(src=st.sampled_from(FILES), dst=st.sampled_from(["/moved.txt", "/d/moved.txt"]))
    def move(self, src, dst):
        status, _ = self.run(self.call("POST", "/v1/files/move", {"from": src, "to": dst}))
        if status == 200:
            self.live[dst] = self.live.pop(src)

    @rule(pick=st.integers(0, 20))
    def restore_from_trash(self, pick):
        async def go():
            listed = (await self.ok("GET", "/v1/trash", path="/", limit=50))["entries"]
            if not listed:
                return
            entry = listed[pick % len(listed)]
            await self.ok("POST", "/v1/trash/restore", {"path": entry["path"], "id": entry["id"]})
            await self._resync()

        self.run(go())

    @rule(path=st.sampled_from(FILES + ["/moved.txt", "/d/moved.txt"]), pick=st.integers(0, 20))
    def restore_a_version(self, path, pick):
        async def go():
            status, revs = await self.call("GET", "/v1/files/revisions", path=path)
            if status != 200:
                return
            version = revs["revisions"][pick % len(revs["revisions"])]["version"]
            status, answer = await self.call("POST", "/v1/files/restore", {"path": path, "version": version})
            assert status in (200, 404, 409), answer  # the file moved away (404) or a folder is there (409)
            await self._resync()

        self.run(go())

    @rule(path=st.sampled_from(["/", *FILES, *FOLDERS]))
    def purge(self, path):
        body = {"all": True} if path == "/" else {"path": path}
        status, answer = self.run(self.call("POST", "/v1/trash/purge", body))
        assert status in (200, 404), answer

    @rule(hours=st.sampled_from([1, 12, 25, 49, 24 * 3]))
    def time_passes_and_prune(self, hours):
        async def go():
            async with self.shared.pool.acquire() as conn:
                for table, column in (("versions", "created_at"), ("trash", "deleted_at")):
                    await conn.execute(
                        f"UPDATE {table} SET {column} = {column} - make_interval(hours => $2) WHERE ns_id = $1",
                        self.ns,
                        hours,
                    )
                now = await conn.fetchval("SELECT now()")
            await prune_namespace(self.shared.pool, self.ns, RETENTION_DAYS, now, PruneReport())

        self.run(go())

    async def _resync(self) -> None:
        """The model's live files after a restore (which may land beside a taken path)."""
        rows = await self.shared.pool.fetch(
            "SELECT e.path, v.size FROM entries e JOIN versions v ON v.id = e.rev WHERE e.ns_id = $1", self.ns
        )
        self.live = {r["path"]: r["size"] for r in rows}

    # -- what must always hold ------------------------------------------------------------------

    @invariant()
    def counters_equal_a_recount(self):
        async def go():
            async with self.shared.pool.acquire() as conn:
                return await usage.of_namespace(conn, self.ns), await usage.recount(conn, self.ns)

        if not hasattr(self, "ns"):
            return
        kept, counted = self.run(go())
        assert kept == counted
        assert kept.current_bytes == sum(self.live.values())
        assert min(kept.current_bytes, kept.version_bytes, kept.trash_bytes, kept.stored_bytes) >= 0


def _run_machine(url: str, dsn: str) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def open_shared() -> Shared:
        return Shared(loop, url, aiohttp.ClientSession(), await db.create_pool(dsn, min_size=1, max_size=2))

    shared = loop.run_until_complete(open_shared())
    try:
        Usage.shared = shared
        run_state_machine_as_test(
            Usage,
            settings=settings(
                max_examples=12,
                stateful_step_count=25,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(shared.http.close())
        loop.run_until_complete(shared.pool.close())
        loop.close()


async def test_counters_equal_a_recount_after_random_changes(meta, database_url):
    await asyncio.to_thread(_run_machine, meta.url, database_url)
