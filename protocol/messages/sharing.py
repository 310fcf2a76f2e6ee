"""Shared folders (``/v1/shares``, docs/api.md): a share as a member sees it, its members,
invitations, and the listing of a user's shares and invitations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from .files import PATH
from .wire import answer

ROLES = ("owner", "editor", "viewer")
#: the roles an invitation or a role change can give (a share has one owner)
MEMBER_ROLES = ("editor", "viewer")
Role = Literal["owner", "editor", "viewer"]
InvitationState = Literal["pending", "accepted", "declined", "cancelled"]


@answer("member")
@dataclass(frozen=True, slots=True)
class Member:
    user: str
    role: Role


@answer("invitation")
@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation to a share: ``id`` is what ``accept``/``decline`` take."""

    id: int
    share: str  # the share's name
    inviter: str | None
    invitee: str
    role: Role
    state: InvitationState
    created: float

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()  # type: ignore[attr-defined]


@answer("share")
@dataclass(frozen=True, slots=True)
class Share:
    """A shared folder as one member sees it: where it is mounted in their tree, their role,
    its owner, members and (to its owner) pending invitations."""

    ns_id: int
    name: str
    #: the caller's mount path
    path: Annotated[str, PATH]
    role: Role
    owner: str
    members: Sequence[Member] = field(default=())
    invitations: Sequence[Invitation] = field(default=())


@answer("shares")
@dataclass(frozen=True, slots=True)
class ShareList:
    """``GET /v1/shares``: the caller's shares and the invitations waiting for their answer."""

    shares: Sequence[Share]
    invitations: Sequence[Invitation]

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()  # type: ignore[attr-defined]
