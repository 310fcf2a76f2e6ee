"""The trash's requests (``GET /v1/trash``, ``POST /v1/trash/restore``, ``POST /v1/trash/purge``):
:class:`TrashRequests`, which an :class:`~client.api.client.ApiClient` holds as ``client.trash``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from protocol import paths
from protocol.errors import ProtocolError
from protocol.messages.files import Metadata
from protocol.messages.lifecycle import PurgeResult, TrashEntry, TrashPage, TrashPurge, TrashRestore

#: the client's one metadata-server request: (method, endpoint, params=, body=, idempotent=) -> answer
Call = Callable[..., Awaitable[Any]]


class TrashRequests:
    def __init__(self, call: Call) -> None:
        self._call = call

    async def page(self, path: str = paths.ROOT, *, cursor: str = "", limit: int | None = None) -> TrashPage:
        """One page of what was deleted at or below ``path``, newest first."""
        params: dict[str, object] = {"path": paths.normalize(path), "cursor": cursor or None, "limit": limit}
        return TrashPage.from_wire(await self._call("GET", "/v1/trash", params=params, idempotent=True))

    async def entries(self, path: str = paths.ROOT, *, limit: int | None = None) -> AsyncIterator[TrashEntry]:
        """Everything deleted at or below ``path`` (and in a deleted folder there), page after page."""
        cursor = ""
        while True:
            page = await self.page(path, cursor=cursor, limit=limit)
            for entry in page.entries:
                yield entry
            if not page.has_more:
                return
            if page.cursor == cursor:
                raise ProtocolError("the trash listing says it has more but did not move its cursor")
            cursor = page.cursor

    async def restore(self, path: str, trash_id: int | None = None) -> Metadata:
        """Bring back what was deleted at ``path`` (the latest, or the entry ``trash_id`` of the
        listing) with everything deleted with it below it; beside what is at that path now, if
        something is. Not retried: sent twice, the second would restore nothing (404) or, after
        another delete of that path, something else."""
        body = TrashRestore(path, trash_id).to_wire()  # type: ignore[attr-defined]
        return Metadata.from_wire(await self._call("POST", "/v1/trash/restore", body=body, idempotent=False))

    async def purge(
        self, path: str | None = None, *, trash_id: int | None = None, everything: bool = False
    ) -> PurgeResult:
        """Delete for good what is in the trash at or below ``path`` (or the entry ``trash_id``
        there), or ``everything``; asks again until the server is done. Retried freely: a purge
        sent again purges what is left."""
        body = (TrashPurge(all=True) if everything else TrashPurge(path, trash_id)).to_wire()  # type: ignore[attr-defined]
        files = freed = 0
        while True:
            step = PurgeResult.from_wire(await self._call("POST", "/v1/trash/purge", body=body, idempotent=True))
            files, freed = files + step.files, freed + step.freed_bytes
            if step.done:
                return PurgeResult(files, freed, True)
            if not step.files:
                raise ProtocolError("the purge says it is not done but purged nothing")
