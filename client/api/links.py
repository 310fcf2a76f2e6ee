"""Share links: make, list and revoke them (docs/api.md, "Share links")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import wire
from .connection import Connection


@dataclass(frozen=True, slots=True)
class Link:
    """A share link of the account (its token is never sent again after it is made)."""

    id: int
    path: str
    created: float
    expires: float | None
    password: bool
    view_only: bool
    revoked: float | None
    #: active, revoked or expired
    state: str

    @classmethod
    def from_wire(cls, value: Any) -> Link:
        what = "link"
        obj = wire.obj(value, what)
        return cls(
            id=wire.get(obj, "id", int, what),
            path=wire.path(obj, "path", what),
            created=float(wire.get(obj, "created", (int, float), what)),
            expires=wire.optional_float(obj, "expires", what),
            password=wire.get(obj, "password", bool, what),
            view_only=wire.get(obj, "view_only", bool, what),
            revoked=wire.optional_float(obj, "revoked", what),
            state=wire.get(obj, "state", str, what),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class LinkRequests(Connection):
    """The share links' requests."""

    async def create_link(
        self, path: str, *, expires_in: int | None = None, password: str | None = None, view_only: bool = False
    ) -> tuple[Link, str]:
        """A new link to ``path`` and its URL (``<public url>/s/<token>``, shown only now)."""
        body = {"path": path, "expires_in": expires_in, "password": password, "view_only": view_only}
        answer = wire.obj(await self.call("POST", "/v1/links", body=body, idempotent=False), "link")
        return Link.from_wire(answer.get("link")), wire.get(answer, "url", str, "link")

    async def links(self) -> list[Link]:
        answer = wire.obj(await self.call("GET", "/v1/links", idempotent=True), "links")
        return [Link.from_wire(x) for x in wire.get(answer, "links", list, "links")]

    async def revoke_link(self, link_id: int) -> Link:
        """Turn a link off at once (NotFound if it is not one of the account's)."""
        answer = wire.obj(await self.call("POST", "/v1/links/revoke", body={"id": link_id}, idempotent=True), "link")
        return Link.from_wire(answer.get("link"))
