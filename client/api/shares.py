"""Shared folders' requests (``/v1/shares``): :class:`ShareRequests`, which an
:class:`~client.api.client.ApiClient` holds as ``client.shares``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from protocol import paths
from protocol.errors import ProtocolError
from protocol.messages.sharing import Invitation, ShareList

#: the client's one metadata-server request: (method, endpoint, params=, body=, idempotent=) -> answer
Call = Callable[..., Awaitable[Any]]


class ShareRequests:
    def __init__(self, call: Call) -> None:
        self._call = call

    async def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        # not retried: sent twice, a membership change would fail the second time (or undo nothing)
        answer = await self._call("POST", endpoint, body=body, idempotent=False)
        if not isinstance(answer, dict):
            raise ProtocolError(f"{endpoint}: expected an object")
        return answer

    async def _path_answer(self, endpoint: str, body: dict[str, Any]) -> str:
        path = (await self._post(endpoint, body)).get("path")
        if not isinstance(path, str):
            raise ProtocolError(f"{endpoint}: the answer has no path")
        return path

    async def create(self, path: str) -> str:
        """Share the folder ``path``; where it is mounted in the caller's tree (the same path)."""
        return await self._path_answer("/v1/shares", {"path": paths.normalize(path)})

    async def listing(self) -> ShareList:
        return ShareList.from_wire(await self._call("GET", "/v1/shares", idempotent=True))

    async def invite(self, path: str, user: str, role: str) -> Invitation:
        body = {"path": paths.normalize(path), "user": user, "role": role}
        return Invitation.from_wire(await self._post("/v1/shares/invite", body))

    async def accept(self, invitation_id: int, at: str | None = None) -> str:
        """Accept an invitation; where the share is mounted."""
        body: dict[str, Any] = {"id": invitation_id}
        if at is not None:
            body["at"] = paths.normalize(at)
        return await self._path_answer("/v1/shares/accept", body)

    async def decline(self, invitation_id: int) -> None:
        await self._post("/v1/shares/decline", {"id": invitation_id})

    async def set_role(self, path: str, user: str, role: str) -> None:
        await self._post("/v1/shares/role", {"path": paths.normalize(path), "user": user, "role": role})

    async def remove(self, path: str, user: str) -> None:
        await self._post("/v1/shares/remove", {"path": paths.normalize(path), "user": user})

    async def leave(self, path: str) -> None:
        await self._post("/v1/shares/leave", {"path": paths.normalize(path)})

    async def unshare(self, path: str) -> str:
        """Unshare; where the folder is now in the owner's tree (an ordinary folder)."""
        return await self._path_answer("/v1/shares/unshare", {"path": paths.normalize(path)})
