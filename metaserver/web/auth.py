"""Login, logout, account, health; and resolving the caller of a request."""

from __future__ import annotations

from aiohttp import web

from protocol.errors import BadRequest, Unauthorized
from protocol.messages.auth import Account, Login

from ..core import db, ratelimit, users
from ..core.auth import check_password, hash_token, new_token
from ..core.callers import Context, authenticate_header
from ..core.http import read_body, respond
from ..keys import POOL

MAX_DEVICE_NAME = 128


async def authenticate(request: web.Request) -> Context:
    return await authenticate_header(request.app[POOL], request.headers.get("Authorization"))


def _str_field(body: dict, name: str, *, max_len: int = 1024) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BadRequest(f"{name} must be a non-empty string")
    return value


async def login(request: web.Request) -> web.Response:
    body = await read_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be an object")
    name = _str_field(body, "user", max_len=users.MAX_NAME)
    password = _str_field(body, "password")
    device = body.get("device") or "unnamed device"
    if not isinstance(device, str):
        raise BadRequest("device must be a string")
    device = device.strip()[:MAX_DEVICE_NAME] or "unnamed device"
    attempt = ratelimit.login_attempt(request, name)
    pool = request.app[POOL]
    async with db.connection(pool) as conn:
        row = await conn.fetchrow("SELECT id, name, password_hash FROM users WHERE name_key = $1", name.casefold())
    # the same answer (and about the same time) for a wrong name as for a wrong password
    stored = row["password_hash"] if row else "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    if not await check_password(password, stored) or row is None:
        raise Unauthorized("wrong user name or password")
    attempt.succeeded()
    token = new_token()
    async with db.transaction(pool) as conn:
        await conn.execute(
            "INSERT INTO tokens (user_id, token_hash, device_name) VALUES ($1, $2, $3)",
            row["id"],
            hash_token(token),
            device,
        )
    return respond(request, Login(token, row["name"], device).to_wire())


async def logout(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.transaction(request.app[POOL]) as conn:
        await conn.execute("UPDATE tokens SET revoked_at = now() WHERE id = $1", ctx.caller.token_id)
    return respond(request, {})


async def account(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        quota = await conn.fetchval("SELECT quota_bytes FROM users WHERE id = $1", ctx.caller.user_id)
        used = await users.used_bytes(conn, ctx.caller.user_id)
    caller = ctx.caller
    return respond(request, Account(caller.user_name, caller.user_id, caller.device_name, quota, used).to_wire())


async def health(request: web.Request) -> web.Response:
    async with db.connection(request.app[POOL]) as conn:
        await conn.fetchval("SELECT 1")
    return respond(request, {"ok": True})
