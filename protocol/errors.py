"""Domain errors shared by servers and client.

Each error kind is one class with a stable machine ``code``, an HTTP ``status``
and a CLI ``exit_code``; its docstring is the default human message. Servers turn
them into ``{"error": {"code", "message", ...}}`` bodies; the client turns such
bodies back into the same classes with :func:`error_from_wire`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TesseraError(Exception):
    """Something went wrong."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    #: transient errors may succeed when retried unchanged
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        self.details = details
        super().__init__(self.message)

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class Internal(TesseraError):
    """Internal server error."""


class BadRequest(TesseraError):
    """The request is malformed."""

    code = "bad_request"
    status = 400
    exit_code = 2


class BadPath(TesseraError):
    """The path is not valid."""

    code = "bad_path"
    status = 400
    exit_code = 2


class Unauthorized(TesseraError):
    """Not logged in, or the token is not valid (run `tessera login`)."""

    code = "unauthorized"
    status = 401
    exit_code = 3


class Forbidden(TesseraError):
    """Permission denied."""

    code = "forbidden"
    status = 403
    exit_code = 3


class GrantExpired(TesseraError):
    """The block grant has expired; ask the metadata server for a new one."""

    code = "grant_expired"
    status = 403
    exit_code = 3
    #: retryable after fetching a fresh grant from the metadata server, not by resending as is
    retryable = True


class NotFound(TesseraError):
    """Not found."""

    code = "not_found"
    status = 404
    exit_code = 4


class HashMismatch(TesseraError):
    """The block's content does not match its hash."""

    code = "hash_mismatch"
    status = 400


class SizeMismatch(TesseraError):
    """The block's size does not match the size announced for it."""

    code = "size_mismatch"
    status = 400


class LengthRequired(TesseraError):
    """A block upload must state its Content-Length."""

    code = "length_required"
    status = 411


class BlockTooLarge(TesseraError):
    """The block is larger than allowed."""

    code = "block_too_large"
    status = 413


class BodyTooLarge(TesseraError):
    """The request body is larger than allowed."""

    code = "body_too_large"
    status = 413


class UnsupportedMediaType(TesseraError):
    """The request body must be application/msgpack or application/json."""

    code = "unsupported_media_type"
    status = 415
    exit_code = 2


class BlocksMissing(TesseraError):
    """Some blocks of the upload are not stored yet."""

    code = "blocks_missing"
    status = 409


class Conflict(TesseraError):
    """The file changed since the revision this edit started from."""

    code = "conflict"
    status = 409
    exit_code = 5


class AlreadyExists(TesseraError):
    """Something already exists at that path."""

    code = "exists"
    status = 409
    exit_code = 5


class NotAFolder(TesseraError):
    """That path is not a folder."""

    code = "not_a_folder"
    status = 409
    exit_code = 5


class IsAFolder(TesseraError):
    """That path is a folder."""

    code = "is_a_folder"
    status = 409
    exit_code = 5


class UploadExpired(TesseraError):
    """The upload session has expired or was already committed; start a new one."""

    code = "upload_expired"
    status = 410


class CursorReset(TesseraError):
    """The cursor is no longer valid; list the folder again from scratch."""

    code = "cursor_reset"
    status = 410


class QuotaExceeded(TesseraError):
    """Not enough storage quota left for this upload."""

    code = "quota_exceeded"
    status = 507
    exit_code = 6


class RateLimited(TesseraError):
    """Too many requests; slow down."""

    code = "rate_limited"
    status = 429
    retryable = True


class Unavailable(TesseraError):
    """The service is temporarily unavailable; try again."""

    code = "unavailable"
    status = 503
    retryable = True


class ProtocolError(TesseraError):
    """The server sent an answer this client does not understand."""

    code = "protocol_error"
    status = 502
    retryable = True


class SignedOut(Unauthorized):
    """This device is signed out: run `tessera login`."""

    code = "signed_out"


class PasswordTooShort(BadRequest):
    """The password is too short."""

    code = "password_too_short"


class AccountDisabled(Forbidden):
    """This account is disabled; ask the server's operator."""

    code = "account_disabled"


class InsufficientStorage(TesseraError):
    """The server is out of storage space (its disk is full); try again later, or tell its operator."""

    code = "insufficient_storage"
    status = 507
    exit_code = 6
    #: space may come back (the operator frees some, or garbage collection does), but not at once
    retryable = False


class TooManyUploads(TesseraError):
    """Too many upload sessions are open; commit or abort some, or wait for them to expire."""

    code = "too_many_uploads"
    status = 429
    exit_code = 6


class TooManyPendingBlocks(TesseraError):
    """Too many blocks of open upload sessions are still to be sent; send them and commit first."""

    code = "too_many_pending_blocks"
    status = 429
    exit_code = 6


class BadCsrfToken(TesseraError):
    """The request's CSRF token is missing or wrong; reload the page and try again."""

    code = "bad_csrf_token"
    status = 403
    exit_code = 3


class LinkGone(TesseraError):
    """This link no longer works: it was revoked or it has expired."""

    code = "link_gone"
    status = 410
    exit_code = 4


class LinkPasswordRequired(TesseraError):
    """This link is protected by a password; enter it to open the link."""

    code = "link_password_required"
    status = 401
    exit_code = 3


class ViewOnly(Forbidden):
    """This link is view-only: its files can be seen but not downloaded."""

    code = "view_only"


class TooManyLinks(TesseraError):
    """There are too many share links; revoke some first."""

    code = "too_many_links"
    status = 409
    exit_code = 5


class BadCursor(TesseraError):
    """The cursor is not valid for this request (altered, or from another search): start again without it."""

    code = "bad_cursor"
    status = 400
    exit_code = 2


class NotAMember(Forbidden):
    """You are not a member of this shared folder (or no longer)."""

    code = "not_member"


class ReadOnly(Forbidden):
    """Your role in this shared folder (viewer) allows reading only."""

    code = "read_only"


class NotOwner(Forbidden):
    """Only the shared folder's owner can do that."""

    code = "not_owner"


class IsAMount(BadPath):
    """That path is a shared folder's mount point: use `tessera share` to rename, leave or unshare it."""

    code = "is_mount"


class MountedMeanwhile(Conflict):
    """A shared folder was mounted at or above the path while this change waited its turn:
    nothing was changed; look again (the path is now in the shared folder) and retry."""

    code = "mounted_meanwhile"


def _all_kinds() -> dict[str, type[TesseraError]]:
    kinds: dict[str, type[TesseraError]] = {}
    # start below the base so that "internal" maps to Internal, not to the abstract TesseraError
    stack: list[type[TesseraError]] = list(TesseraError.__subclasses__())
    while stack:
        cls = stack.pop()
        kinds.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return kinds


ERRORS_BY_CODE: dict[str, type[TesseraError]] = _all_kinds()


def error_from_wire(status: int, body: Any) -> TesseraError:
    """Rebuild the domain error a server sent as ``{"error": {...}}``."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code")
        message = err.get("message")
        details = err.get("details") if isinstance(err.get("details"), dict) else {}
        # only keys that can be keyword arguments (and do not clash with ``message``)
        details = {k: v for k, v in details.items() if isinstance(k, str) and k != "message"}
        cls = ERRORS_BY_CODE.get(code) if isinstance(code, str) else None
        if cls is not None:
            return cls(message if isinstance(message, str) else None, **details)
    fallback = _BY_STATUS.get(status)
    if fallback is not None:
        return fallback(f"HTTP {status}")
    if status >= 500:
        return Unavailable(f"server error (HTTP {status})")
    return ProtocolError(f"unexpected answer (HTTP {status})")


_BY_STATUS: dict[int, type[TesseraError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    411: LengthRequired,
    413: BodyTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
    507: QuotaExceeded,
}
