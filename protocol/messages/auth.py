"""Logging in, the account, its devices and its password (``/v1/auth/...``, ``/v1/account``,
``/v1/devices``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from .wire import Wire, answer

#: a field an older server does not send (and None is not written)
OMITTED = Wire(omit=True)


@answer("login")
@dataclass(frozen=True, slots=True)
class Login:
    """A new device token, and whose it is."""

    token: str
    user: str
    device: str


@answer("account")
@dataclass(frozen=True, slots=True)
class Account:
    user: str
    user_id: int
    device: str
    #: None: no quota
    quota_bytes: int | None
    #: what the quota counts (see ``GET /v1/usage``)
    used_bytes: int
    #: logical bytes of current files, of older versions, of the trash (None: an older server)
    current_bytes: Annotated[int | None, OMITTED] = None
    version_bytes: Annotated[int | None, OMITTED] = None
    trash_bytes: Annotated[int | None, OMITTED] = None
    #: days deleted files and replaced versions are kept
    retention_days: Annotated[int | None, OMITTED] = None

    def to_json(self) -> dict[str, Any]:
        """What the CLI prints with ``--json``: the wire form."""
        return self.to_wire()  # type: ignore[attr-defined]


@answer("device")
@dataclass(frozen=True, slots=True)
class Device:
    """A device signed in to the account (one device token)."""

    id: int
    name: str
    created: float
    last_used: float
    #: the device asking
    current: bool

    def to_json(self) -> dict[str, Any]:
        return self.to_wire()  # type: ignore[attr-defined]


@answer("devices")
@dataclass(frozen=True, slots=True)
class Devices:
    """The devices signed in to the account, oldest first (``GET /v1/devices``)."""

    devices: list[Device]


@answer("revoked device")
@dataclass(frozen=True, slots=True)
class DeviceRevoked:
    """A device signed out (``POST /v1/devices/revoke``)."""

    revoked: int
    #: it was the device asking
    current: bool


@answer("password")
@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """The password changed (``POST /v1/auth/password``): how many other devices were signed out."""

    signed_out: int
