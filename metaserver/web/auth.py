"""Login, logout, account; and resolving the caller of a request (health: metaserver.core.health)."""

from __future__ import annotations

from aiohttp import web

from protocol.errors import AccountDisabled, BadRequest, Unauthorized, Unavailable
from protocol.messages.auth import Account, Login

from ..core import db, passwords, ratelimit, tokens, users
from ..core.auth import hash_token, new_token
from ..core.bodies import KIB, body_limit, read_object
from ..core.callers import Context, authenticate_header
from ..core.http import respond
from ..keys import PASSWORDS, POOL, SETTINGS

MAX_DEVICE_NAME = 128


async def authenticate(request: web.Request) -> Context:
    settings = request.app[SETTINGS]
    return await authenticate_header(
        request.app[POOL], request.headers.get("Authorization"), settings.token_idle_expiry
    )


def str_field(body: dict, name: str, *, max_len: int = 1024) -> str:
    """The field ``name``: a non-empty string of at most ``max_len`` characters (BadRequest otherwise)."""
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BadRequest(f"{name} must be a non-empty string of at most {max_len} characters")
    return value


async def verify_user_password(request: web.Request, name: str, user: dict | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s (a users row with id and password_hash; None: no user ``name``).

    Counts against the login rate limits of the request's address and takes a place in the
    hashing queue (503 if there is none). An unknown user costs one hash like a known one. A
    hash of an older scheme or parameters is replaced by a current one once it verified.
    """
    attempt = ratelimit.login_attempt(request, name)
    queue = request.app[PASSWORDS]
    stored = user["password_hash"] if user else await queue.dummy()
    try:
        async with queue.turn(request.remote or ""):
            ok = await passwords.verify_password(password, stored) and user is not None
            new_hash = await passwords.hash_password(password) if ok and passwords.needs_rehash(stored) else None
    except Unavailable:
        attempt.succeeded()  # refused before any check: it does not count as a failure
        raise
    if not ok:
        return False
    attempt.succeeded()
    if new_hash is not None:
        async with db.transaction(request.app[POOL]) as conn:
            await conn.execute(
                "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                user["id"],  # type: ignore[index]
                stored,
                new_hash,
            )
    return True


@body_limit(4 * KIB, max_container_len=16)
async def login(request: web.Request) -> web.Response:
    body = await read_object(request)
    name = str_field(body, "user", max_len=users.MAX_NAME)
    password = str_field(body, "password", max_len=passwords.MAX_PASSWORD)
    device = body.get("device") or "unnamed device"
    if not isinstance(device, str):
        raise BadRequest("device must be a string")
    device = device.strip()[:MAX_DEVICE_NAME] or "unnamed device"
    token, user_name = await sign_in(request, name, password, device)
    return respond(request, Login(token, user_name, device).to_wire())


async def sign_in(request: web.Request, name: str, password: str, device: str) -> tuple[str, str]:
    """Check a user's password (under the login limits) and make a device token for ``device``:
    (the token, the user's name as stored). Unauthorized for a wrong name or password (the same
    answer and the same work for both), AccountDisabled for a disabled user. The API's login and
    the web app's sign-in form both come here."""
    pool = request.app[POOL]
    async with db.connection(pool) as conn:
        row = await conn.fetchrow(
            "SELECT id, name, password_hash, disabled_at IS NOT NULL AS disabled FROM users WHERE name_key = $1",
            name.casefold(),
        )
    user = dict(row) if row is not None else None
    if not await verify_user_password(request, name, user, password) or user is None:
        raise Unauthorized("wrong user name or password")
    if user["disabled"]:
        raise AccountDisabled("this account is disabled; ask the server's operator")
    token = new_token()
    async with db.transaction(pool) as conn:
        await conn.execute(
            "INSERT INTO tokens (user_id, token_hash, device_name) VALUES ($1, $2, $3)",
            user["id"],
            hash_token(token),
            device,
        )
    return token, user["name"]


async def logout(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.transaction(request.app[POOL]) as conn:
        await tokens.revoke(conn, ctx.caller.user_id, "logout", token_ids=[ctx.caller.token_id])
    return respond(request, {})


async def account(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        quota = await conn.fetchval("SELECT quota_bytes FROM users WHERE id = $1", ctx.caller.user_id)
        used = await users.used_bytes(conn, ctx.caller.user_id)
    caller = ctx.caller
    return respond(request, Account(caller.user_name, caller.user_id, caller.device_name, quota, used).to_wire())

