"""Wire messages of shared folders (``/v1/shares``, see docs/api.md): a share as a member sees
it, its members, invitations, and the listing of a user's shares and invitations.

The metadata server builds them and sends ``to_wire()``; the client reads them with
``from_wire()`` (ProtocolError when an answer does not have the shape it needs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import ProtocolError
from .lifecycle import expect_field as _get
from .lifecycle import expect_object as _obj

ROLES = ("owner", "editor", "viewer")
#: the roles an invitation or a role change can give (a share has one owner)
MEMBER_ROLES = ("editor", "viewer")


@dataclass(frozen=True, slots=True)
class Member:
    user: str
    role: str

    @classmethod
    def from_wire(cls, value: Any) -> Member:
        obj = _obj(value, "member")
        return cls(_get(obj, "user", str, "member"), _role(_get(obj, "role", str, "member")))


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation to a share: ``id`` is what ``accept``/``decline`` take."""

    id: int
    share: str  # the share's name
    inviter: str | None
    invitee: str
    role: str
    state: str  # pending | accepted | declined | cancelled
    created: float

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, value: Any) -> Invitation:
        obj, w = _obj(value, "invitation"), "invitation"
        return cls(
            _get(obj, "id", int, w), _get(obj, "share", str, w), _get(obj, "inviter", str, w, optional=True),
            _get(obj, "invitee", str, w), _role(_get(obj, "role", str, w)), _get(obj, "state", str, w),
            float(_get(obj, "created", (int, float), w)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Share:
    """A shared folder as one member sees it: where it is mounted in their tree, their role,
    its owner, members and (to its owner) pending invitations."""

    ns_id: int
    name: str
    path: str  # the caller's mount path
    role: str
    owner: str
    members: tuple[Member, ...] = ()
    invitations: tuple[Invitation, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {
            "ns_id": self.ns_id, "name": self.name, "path": self.path, "role": self.role, "owner": self.owner,
            "members": [asdict(m) for m in self.members], "invitations": [i.to_wire() for i in self.invitations],
        }  # fmt: skip

    @classmethod
    def from_wire(cls, value: Any) -> Share:
        obj, w = _obj(value, "share"), "share"
        return cls(
            _get(obj, "ns_id", int, w), _get(obj, "name", str, w), _get(obj, "path", str, w),
            _role(_get(obj, "role", str, w)), _get(obj, "owner", str, w),
            tuple(Member.from_wire(m) for m in _get(obj, "members", list, w)),
            tuple(Invitation.from_wire(i) for i in _get(obj, "invitations", list, w)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ShareList:
    """``GET /v1/shares``: the caller's shares and the invitations waiting for their answer."""

    shares: tuple[Share, ...]
    invitations: tuple[Invitation, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"shares": [s.to_wire() for s in self.shares], "invitations": [i.to_wire() for i in self.invitations]}

    @classmethod
    def from_wire(cls, value: Any) -> ShareList:
        obj = _obj(value, "shares")
        return cls(
            tuple(Share.from_wire(s) for s in _get(obj, "shares", list, "shares")),
            tuple(Invitation.from_wire(i) for i in _get(obj, "invitations", list, "shares")),
        )


def _role(role: str) -> str:
    if role not in ROLES:
        raise ProtocolError(f"unknown role {role!r}")
    return role
