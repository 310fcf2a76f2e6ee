"""Share links (``/v1/links``): a link as its owner sees it, a new link with its URL, the list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from .files import PATH
from .wire import Wire, answer

LinkState = Literal["active", "revoked", "expired"]


@answer("link")
@dataclass(frozen=True, slots=True)
class Link:
    """A share link of the account (its token is never sent again after it is made)."""

    id: int
    path: Annotated[str, PATH]
    created: float
    expires: float | None
    #: the link asks for a password
    password: bool
    view_only: bool
    revoked: float | None
    state: LinkState
    #: what the link opens, in the answer that makes it only
    kind: Annotated[Literal["file", "folder"] | None, Wire(omit=True)] = None

    def to_json(self) -> dict[str, Any]:
        """What the CLI prints with ``--json``: the wire form."""
        return self.to_wire()  # type: ignore[attr-defined]


def _link_field(link: Link) -> dict[str, Any]:
    return link.to_wire()  # type: ignore[attr-defined]


#: a link inside another answer
LINK = Wire(parse=lambda value: Link.from_wire(value), write=_link_field)  # type: ignore[attr-defined]


@answer("new link")
@dataclass(frozen=True, slots=True)
class NewLink:
    """``POST /v1/links``: the link and its URL (``<public url>/s/<token>``, shown only here)."""

    link: Annotated[Link, LINK]
    url: str


@answer("links")
@dataclass(frozen=True, slots=True)
class Links:
    """``GET /v1/links``: the account's links, oldest first."""

    links: list[Link]


@answer("revoked link")
@dataclass(frozen=True, slots=True)
class LinkRevoked:
    """``POST /v1/links/revoke``: the link, off from now on."""

    link: Annotated[Link, LINK]
