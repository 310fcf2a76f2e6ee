"""A user's devices (their tokens) and password: list, revoke, change the password.

Every route acts on the caller's own user only: a token id of another user is
answered as not found, like an id that does not exist.
"""

from __future__ import annotations

from aiohttp import web

from protocol.errors import BadRequest, Forbidden, NotFound, SignedOut
from protocol.messages.auth import Device, DeviceRevoked, Devices, PasswordChanged

from ..core import db, passwords, tokens
from ..core.bodies import read_object
from ..core.http import respond
from ..keys import PASSWORDS, POOL, SETTINGS
from .auth import authenticate, str_field, verify_user_password


def _device(row, current_id: int) -> Device:
    return Device(
        row["id"], row["device_name"], row["created_at"].timestamp(), row["last_used_at"].timestamp(),
        row["id"] == current_id,
    )  # fmt: skip


async def list_devices(request: web.Request) -> web.Response:
    """The caller's devices whose tokens still work, oldest first; ``current`` marks the caller's."""
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        rows = await tokens.live_tokens(conn, ctx.caller.user_id, request.app[SETTINGS].token_idle_expiry)
    return respond(request, Devices([_device(r, ctx.caller.token_id) for r in rows]).to_wire())


async def revoke_device(request: web.Request) -> web.Response:
    """Sign one of the caller's devices out (``{"id"}``), at once on every server."""
    ctx = await authenticate(request)
    body = await read_object(request)
    token_id = body.get("id")
    if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 < token_id < 2**63:
        raise BadRequest("id must be a device id (a positive integer)")
    async with db.transaction(request.app[POOL]) as conn:
        revoked = await tokens.revoke(conn, ctx.caller.user_id, "revoked", token_ids=[token_id])
    if not revoked:
        raise NotFound(f"no device {token_id} is signed in to this account")
    return respond(request, DeviceRevoked(token_id, token_id == ctx.caller.token_id).to_wire())


async def change_password(request: web.Request) -> web.Response:
    """Change the caller's password (the old one is required); ``sign_out_others`` revokes
    every other device's token."""
    ctx = await authenticate(request)
    body = await read_object(request)
    old = str_field(body, "old_password", max_len=passwords.MAX_PASSWORD)
    new = body.get("new_password")
    if not isinstance(new, str):
        raise BadRequest("new_password must be a string")
    passwords.check_new_password(new)
    sign_out_others = body.get("sign_out_others", False)
    if not isinstance(sign_out_others, bool):
        raise BadRequest("sign_out_others must be true or false")
    pool = request.app[POOL]
    user_id = ctx.caller.user_id
    async with db.connection(pool) as conn:
        row = await conn.fetchrow("SELECT id, name, password_hash FROM users WHERE id = $1", user_id)
    if row is None:
        raise SignedOut("this account no longer exists")
    if not await verify_user_password(request, ctx.caller.user_name, dict(row), old):
        raise Forbidden("the old password is wrong")  # not 401: this device is still signed in
    async with request.app[PASSWORDS].turn(request.remote or ""):
        new_hash = await passwords.hash_password(new)
    async with db.transaction(pool) as conn:
        await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, new_hash)
        signed_out = []
        if sign_out_others:
            signed_out = await tokens.revoke(conn, user_id, "password", keep=ctx.caller.token_id)
    return respond(request, PasswordChanged(len(signed_out)).to_wire())
