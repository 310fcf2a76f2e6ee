"""The account's requests: health, login and logout, the account, devices and the password."""

from __future__ import annotations

from protocol.messages.auth import Account, Device, Devices, Login, PasswordChanged

from .connection import Connection


class AccountRequests(Connection):
    """The account's requests (docs/api.md, "Auth and account" and "Devices")."""

    async def health(self) -> bool:
        answer = await self.call("GET", "/v1/health", idempotent=True, auth=False)
        return isinstance(answer, dict) and answer.get("ok") is True

    async def login(self, user: str, password: str, device: str) -> Login:
        """Log in; the new device token becomes this client's token."""
        answer = await self.call(
            "POST",
            "/v1/auth/login",
            body={"user": user, "password": password, "device": device},
            idempotent=False,
            auth=False,
        )
        result = Login.from_wire(answer)
        self.token = result.token
        return result

    async def logout(self) -> None:
        """Revoke this client's token on the server."""
        await self.call("POST", "/v1/auth/logout", body={}, idempotent=False)
        self.token = None

    async def account(self) -> Account:
        return Account.from_wire(await self.call("GET", "/v1/account", idempotent=True))

    async def devices(self) -> list[Device]:
        """The devices signed in to the account, oldest first (``current``: this one)."""
        return Devices.from_wire(await self.call("GET", "/v1/devices", idempotent=True)).devices

    async def revoke_device(self, device_id: int) -> None:
        """Sign a device of the account out, at once (NotFound if it is not one of the account's)."""
        await self.call("POST", "/v1/devices/revoke", body={"id": device_id}, idempotent=True)

    async def change_password(self, old: str, new: str, *, sign_out_others: bool = False) -> int:
        """Change the account's password; returns how many other devices were signed out."""
        body = {"old_password": old, "new_password": new, "sign_out_others": sign_out_others}
        answer = await self.call("POST", "/v1/auth/password", body=body, idempotent=False)
        return PasswordChanged.from_wire(answer).signed_out
