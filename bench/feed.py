"""The change feed as a second device sees it: latest cursor, long-poll, pages of changes.

The client library has no change-feed calls yet (the sync daemon will bring
them), so the harness speaks docs/api.md's three endpoints itself, in JSON.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

#: the server's bounds for ?timeout= (docs/api.md)
LONGPOLL_MIN, LONGPOLL_MAX = 30, 480


class FeedError(RuntimeError):
    pass


@dataclass
class ChangeFeed:
    session: aiohttp.ClientSession
    meta_url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def _get(self, endpoint: str, params: dict[str, Any], limit_s: float) -> Any:
        async with self.session.get(
            self.meta_url + endpoint,
            params={k: str(v) for k, v in params.items()},
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=limit_s),
        ) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise FeedError(f"GET {endpoint}: {resp.status} {body}")
            return body

    async def latest_cursor(self) -> str:
        return (await self._get("/v1/changes/latest_cursor", {}, 30))["cursor"]

    async def longpoll(self, cursor: str, wait_s: int = LONGPOLL_MIN) -> bool:
        """True once something changed after ``cursor`` (False once the server's ``wait_s`` passed)."""
        answer = await self._get("/v1/changes/longpoll", {"cursor": cursor, "timeout": wait_s}, wait_s + 30)
        return bool(answer.get("changes"))

    async def changes(self, cursor: str) -> tuple[list[dict[str, Any]], str]:
        """Every change after ``cursor`` (all pages) and the cursor after them."""
        entries: list[dict[str, Any]] = []
        while True:
            page = await self._get("/v1/changes", {"cursor": cursor}, 60)
            entries += page["entries"]
            cursor = page["cursor"]
            if not page["has_more"]:
                return entries, cursor

    async def wait_for_file(self, cursor: str, path_key: str, deadline_s: float) -> tuple[dict[str, Any], str]:
        """Long-poll until a committed file at ``path_key`` (lower-case path) shows up in the feed.

        ``pending`` entries (an upload started) are skipped, as a sync client
        would: only committed versions are downloaded.
        """
        async with asyncio.timeout(deadline_s):
            while True:
                if await self.longpoll(cursor):
                    entries, cursor = await self.changes(cursor)
                    for entry in reversed(entries):
                        if entry.get("kind") == "file" and entry.get("path", "").lower() == path_key:
                            return entry, cursor
