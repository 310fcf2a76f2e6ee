"""Share links: make, list and revoke them (docs/api.md, "Share links")."""

from __future__ import annotations

from protocol.messages.links import Link, LinkRevoked, Links, NewLink

from .connection import Connection


class LinkRequests(Connection):
    """The share links' requests."""

    async def create_link(
        self, path: str, *, expires_in: int | None = None, password: str | None = None, view_only: bool = False
    ) -> NewLink:
        """A new link to ``path`` and its URL (``<public url>/s/<token>``, shown only now)."""
        body = {"path": path, "expires_in": expires_in, "password": password, "view_only": view_only}
        return NewLink.from_wire(await self.call("POST", "/v1/links", body=body, idempotent=False))

    async def links(self) -> list[Link]:
        """The account's links, oldest first, with their state."""
        return Links.from_wire(await self.call("GET", "/v1/links", idempotent=True)).links

    async def revoke_link(self, link_id: int) -> Link:
        """Turn a link off at once (NotFound if it is not one of the account's)."""
        answer = await self.call("POST", "/v1/links/revoke", body={"id": link_id}, idempotent=True)
        return LinkRevoked.from_wire(answer).link
