"""Logging in, the account, its devices and its password (``/v1/auth/...``, ``/v1/account``,
``/v1/devices``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .wire import answer


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
    used_bytes: int

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
