"""The Tessera client library: one async client for the CLI, the sync daemon and the bench.

    async with TesseraClient("http://127.0.0.1:8080", token) as client:
        await client.upload_file("notes.txt", "/Docs/notes.txt")
        async for page in client.list_folder("/Docs"):
            ...

Methods mirror docs/api.md one to one; :meth:`TesseraClient.upload_file` and
:meth:`TesseraClient.download_file` run whole transfers. Every failure is a
:class:`protocol.errors.TesseraError`; transient ones were already retried per
the client's :class:`~client.api.retry.RetryPolicy`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from client.transfer.download.file import DownloadResult, download_file
from client.transfer.filehash import StampedHash
from client.transfer.progress import Progress
from client.transfer.upload.file import UPLOAD_MODES, UploadResult, upload_file
from client.transfer.upload.journal import UploadJournal
from protocol import paths
from protocol.errors import BadRequest, NotFound, ProtocolError, TesseraError, error_from_wire
from protocol.hashing import BlockHash

from .blocks import WantedBlock, get_block_batch
from .errors import ConnectFailed, NotLoggedIn
from .incoming import IncomingPage, IncomingUpload, incoming_list_from_wire
from .models import (
    Account,
    BlockPage,
    ChangesPage,
    ListPage,
    Login,
    LongPoll,
    Metadata,
    Revisions,
    UploadSession,
)
from .retry import DEFAULT_RETRY, RetryPolicy
from .transport import Timeouts, Transport, check_server_url

#: blocks transferred at once per file (memory is about this many times 4 MiB)
DEFAULT_TRANSFER_CONCURRENCY = 6
#: how much longer than the poll's own timeout a long-poll answer may take to arrive
LONGPOLL_GRACE = 30.0
#: the metadata server's own long-poll route (the notify endpoint serves the same path)
LONGPOLL_PATH = "/v1/changes/longpoll"


class TesseraClient:
    """An authenticated connection to one Tessera server (use as an async context manager)."""

    def __init__(
        self,
        server_url: str,
        token: str | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeouts: Timeouts = Timeouts(),
        max_connections: int = 32,
        transfer_concurrency: int = DEFAULT_TRANSFER_CONCURRENCY,
    ) -> None:
        if transfer_concurrency < 1:
            raise ValueError("transfer_concurrency must be at least 1")
        self.server_url = check_server_url(server_url)
        self.token = token
        self.transfer_concurrency = transfer_concurrency
        self._http = Transport(retry=retry, timeouts=timeouts, max_connections=max_connections)
        self._longpoll_url: str | None = None

    async def __aenter__(self) -> TesseraClient:
        await self._http.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    # -- plumbing -------------------------------------------------------------------------

    def _token(self) -> str:
        if not self.token:
            raise NotLoggedIn()
        return self.token

    async def _call(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, object] | None = None,
        body: Any = None,
        idempotent: bool,
        auth: bool = True,
        request_timeout: aiohttp.ClientTimeout | None = None,
    ) -> Any:
        """One metadata-server request (``request_timeout``: e.g. for a long-poll)."""
        return await self._http.call(
            method,
            self.server_url + endpoint,
            token=self._token() if auth else None,
            params=params,
            body=body,
            idempotent=idempotent,
            request_timeout=request_timeout,
        )

    # -- auth and account -------------------------------------------------------------------

    async def health(self) -> bool:
        answer = await self._call("GET", "/v1/health", idempotent=True, auth=False)
        return isinstance(answer, dict) and answer.get("ok") is True

    async def login(self, user: str, password: str, device: str) -> Login:
        """Log in; the new device token becomes this client's token."""
        answer = await self._call(
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
        await self._call("POST", "/v1/auth/logout", body={}, idempotent=False)
        self.token = None

    async def account(self) -> Account:
        return Account.from_wire(await self._call("GET", "/v1/account", idempotent=True))

    # -- files and folders ------------------------------------------------------------------

    async def meta(self, path: str) -> Metadata:
        answer = await self._call(
            "GET", "/v1/files/meta", params={"path": paths.normalize(path)}, idempotent=True
        )
        return Metadata.from_wire(answer)

    async def list_folder(
        self, path: str = paths.ROOT, *, limit: int | None = None
    ) -> AsyncIterator[ListPage]:
        """The pages of a folder listing (sorted by path key), fetched as they are consumed."""
        params: dict[str, object] = {"path": paths.normalize(path), "limit": limit}
        while True:
            page = ListPage.from_wire(
                await self._call("GET", "/v1/files/list", params=params, idempotent=True)
            )
            yield page
            if not page.has_more:
                return
            if not page.cursor or page.cursor == params.get("cursor"):
                raise ProtocolError("the folder listing says it has more but gave no new cursor")
            params["cursor"] = page.cursor

    async def list_entries(self, path: str = paths.ROOT) -> AsyncIterator[Metadata]:
        """Every entry of a folder, page after page."""
        async for page in self.list_folder(path):
            for entry in page.entries:
                yield entry

    async def revisions(self, path: str, limit: int = 100) -> Revisions:
        """The revisions ``path`` has had, newest first (also after it was deleted)."""
        params = {"path": paths.normalize(path), "limit": str(limit)}
        return Revisions.from_wire(await self._call("GET", "/v1/files/revisions", params=params, idempotent=True))

    async def restore(self, path: str, rev: int) -> Metadata:
        """Make revision ``rev`` of ``path`` its current content again (as a new revision)."""
        body = {"path": paths.normalize(path), "rev": rev}
        # idempotent: the server makes no new revision when the path already holds that content
        return Metadata.from_wire(await self._call("POST", "/v1/files/restore", body=body, idempotent=True))

    async def mkdir(self, path: str) -> Metadata:
        body = {"path": paths.normalize(path)}
        return Metadata.from_wire(await self._call("POST", "/v1/files/mkdir", body=body, idempotent=False))

    async def delete(self, path: str, if_rev: int | None = None) -> Metadata:
        """Delete a file, or a folder with everything in it; with ``if_rev``, only a file still at
        that revision (:class:`~protocol.errors.Conflict` otherwise, and nothing is deleted)."""
        body: dict[str, Any] = {"path": paths.normalize(path)}
        if if_rev is not None:
            body["if_rev"] = if_rev
        return Metadata.from_wire(await self._call("POST", "/v1/files/delete", body=body, idempotent=False))

    async def move(self, from_path: str, to_path: str) -> Metadata:
        body = {"from": paths.normalize(from_path), "to": paths.normalize(to_path)}
        return Metadata.from_wire(await self._call("POST", "/v1/files/move", body=body, idempotent=False))

    # -- change feed ------------------------------------------------------------------------

    async def changes(self, cursor: str = "", limit: int | None = None) -> ChangesPage:
        """One page of what changed after ``cursor``; an empty cursor starts with a full listing.

        Entries come in order: files, folders, ``deleted`` markers and ``pending``
        uploads. A cursor the server no longer accepts raises
        :class:`~protocol.errors.CursorReset`: list again from an empty cursor.
        """
        params: dict[str, object] = {"cursor": cursor or None, "limit": limit}
        return ChangesPage.from_wire(await self._call("GET", "/v1/changes", params=params, idempotent=True))

    async def iter_changes(self, cursor: str = "", *, limit: int | None = None) -> AsyncIterator[ChangesPage]:
        """Every page after ``cursor`` until the feed is caught up (the last page's cursor is current)."""
        while True:
            page = await self.changes(cursor, limit)
            yield page
            if not page.has_more:
                return
            if page.cursor == cursor and not page.entries:
                raise ProtocolError("the change feed says it has more but did not move its cursor")
            cursor = page.cursor

    async def latest_cursor(self) -> str:
        """A cursor at the tree's current position, without listing it."""
        answer = await self._call("GET", "/v1/changes/latest_cursor", idempotent=True)
        if not isinstance(answer, dict) or not isinstance(answer.get("cursor"), str) or not answer["cursor"]:
            raise ProtocolError("latest_cursor: the answer has no cursor")
        return answer["cursor"]

    async def longpoll(self, cursor: str, timeout: int = 30) -> LongPoll:  # noqa: ASYNC109 (the server waits)
        """Wait until something changes after ``cursor`` or ``timeout`` seconds pass (30 to 480).

        Answers ``(changes, backoff)``: fetch :meth:`changes` when ``changes`` is
        true; wait ``backoff`` seconds before the next poll when it is set. The
        read timeout of this request is the poll's timeout plus a grace period,
        not the client's usual read timeout.

        The poll goes to the server's notify endpoint (asked for once with
        :meth:`longpoll_url`); a server without one, or one whose notify endpoint
        cannot be reached, is polled on its own ``/v1/changes/longpoll``.
        """
        if not cursor:
            raise BadRequest("longpoll needs a cursor (from changes() or latest_cursor())")
        base = self._http.timeouts
        wait = aiohttp.ClientTimeout(
            total=None, sock_connect=base.connect, sock_read=timeout + LONGPOLL_GRACE
        )
        url = await self.longpoll_url()
        params = {"cursor": cursor, "timeout": int(timeout)}

        async def poll(where: str) -> Any:
            return await self._http.call(
                "GET", where, token=self._token(), params=params, idempotent=True, request_timeout=wait
            )

        try:
            answer = await poll(url)
        except ConnectFailed:
            fallback = self.server_url + LONGPOLL_PATH
            if url == fallback:
                raise
            self._longpoll_url = None  # ask again next time: the notify endpoint may be back
            answer = await poll(fallback)
        return LongPoll.from_wire(answer)

    async def longpoll_url(self) -> str:
        """Where this client long-polls: the notify endpoint the server names (``GET /v1/changes/notify``),
        or the metadata server's own route if it names none."""
        if self._longpoll_url is None:
            try:
                answer = await self._call("GET", "/v1/changes/notify", idempotent=True)
            except NotFound:  # a server older than the notify endpoint
                self._longpoll_url = self.server_url + LONGPOLL_PATH
            else:
                url = answer.get("url") if isinstance(answer, dict) else None
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    raise ProtocolError("notify: the answer has no http(s) URL")
                self._longpoll_url = url
        return self._longpoll_url

    # -- upload sessions --------------------------------------------------------------------

    async def create_upload(
        self,
        path: str,
        size: int,
        blocks: Sequence[BlockHash],
        *,
        content_hash: str | None = None,
        mode: str = "overwrite",
        parent_rev: int | None = None,
        client_modified: float | None = None,
        blocks_complete: bool = True,
    ) -> UploadSession:
        """Open an upload session. Retried freely: a duplicate session just expires unused.

        ``client_modified``: the file's modification time here (Unix seconds), which every
        device that downloads this revision gives its copy. ``blocks_complete=False``:
        ``blocks`` are the first of the file's blocks, the rest follow in
        :meth:`append_upload_blocks` (no ``content_hash`` then).
        """
        if mode not in UPLOAD_MODES:
            raise BadRequest(f"mode must be one of {', '.join(UPLOAD_MODES)}")
        body: dict[str, Any] = {
            "path": paths.normalize(path),
            "size": size,
            "blocks": [b.to_wire() for b in blocks],
        }
        if content_hash is not None:
            body["content_hash"] = content_hash
        if mode != "overwrite":
            body["mode"] = mode
        if parent_rev is not None:
            body["parent_rev"] = parent_rev
        if client_modified is not None:
            body["client_modified"] = client_modified
        if not blocks_complete:
            body["blocks_complete"] = False
        return UploadSession.from_wire(await self._call("POST", "/v1/uploads", body=body, idempotent=True))

    async def append_upload_blocks(
        self, upload_id: str, start: int, blocks: Sequence[BlockHash], *, content_hash: str | None = None
    ) -> UploadSession:
        """List the next part of an open session's block list, from index ``start``; the answer
        names this part's blocks. Retried freely: a part sent again is answered again."""
        body: dict[str, Any] = {"start": start, "blocks": [b.to_wire() for b in blocks]}
        if content_hash is not None:
            body["content_hash"] = content_hash
        answer = await self._call("POST", f"/v1/uploads/{quote(upload_id, safe='')}/blocks", body=body, idempotent=True)
        return UploadSession.from_wire(answer)

    async def upload_status(self, upload_id: str) -> UploadSession:
        """The session's current state, with fresh grants for the blocks still needed."""
        answer = await self._call("GET", f"/v1/uploads/{quote(upload_id, safe='')}", idempotent=True)
        return UploadSession.from_wire(answer)

    async def commit_upload(self, upload_id: str) -> Metadata:
        """Commit a session. Retried freely: the server answers a repeated commit with its result."""
        answer = await self._call(
            "POST", f"/v1/uploads/{quote(upload_id, safe='')}/commit", body={}, idempotent=True
        )
        return Metadata.from_wire(answer)

    # -- blocks -------------------------------------------------------------------------------

    async def file_blocks(
        self, path: str, *, rev: int | None = None, start: int = 0, limit: int | None = None
    ) -> BlockPage:
        """One page of a file version's blocks, each with a get grant."""
        params: dict[str, object] = {
            "path": paths.normalize(path),
            "rev": rev,
            "start": start,
            "limit": limit,
        }
        return BlockPage.from_wire(
            await self._call("GET", "/v1/files/blocks", params=params, idempotent=True)
        )

    async def iter_file_blocks(
        self, path: str, *, rev: int | None = None, page_size: int | None = None
    ) -> AsyncIterator[BlockPage]:
        """Every page of a file version's block list, fetched as consumed.

        The revision is pinned by the first page, so a commit made meanwhile
        cannot mix two versions.
        """
        start = 0
        while True:
            page = await self.file_blocks(path, rev=rev, start=start, limit=page_size)
            rev = page.rev
            yield page
            start = page.start + len(page.blocks)
            if start >= page.total:
                return
            if not page.blocks:
                raise ProtocolError(f"the block list of {path} stopped at {start} of {page.total} blocks")

    async def incoming_uploads(self) -> list[IncomingUpload]:
        """Pending uploads of large files by the account's other devices (streaming sync)."""
        return incoming_list_from_wire(await self._call("GET", "/v1/uploads/incoming", idempotent=True))

    async def incoming_blocks(
        self, upload_id: str, *, start: int = 0, limit: int | None = None
    ) -> IncomingPage:
        """One page of a pending upload's block list; NotFound once it is committed or gone."""
        params: dict[str, object] = {"start": start, "limit": limit}
        return IncomingPage.from_wire(
            await self._call("GET", f"/v1/uploads/incoming/{upload_id}", params=params, idempotent=True)
        )

    async def file_blocks_batch(
        self, files: Sequence[tuple[str, int | None]]
    ) -> list[BlockPage | TesseraError]:
        """The block lists (with get grants) of up to 1,000 ``(path, rev)`` at once, in order.

        A file the server could not answer comes back as its error. A list may
        be shorter than the file (the answer holds at most 10,000 blocks in all):
        ``start + len(blocks) < total``; page the rest with :meth:`file_blocks`.
        """
        body = {
            "files": [
                {"path": paths.normalize(p), **({"rev": rev} if rev is not None else {})} for p, rev in files
            ]
        }
        answer = await self._call("POST", "/v1/files/blocks_batch", body=body, idempotent=True)
        servers = answer.get("block_servers") if isinstance(answer, dict) else None
        results = answer.get("files") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(files):
            raise ProtocolError(f"the block list batch answer has no 'files' list of {len(files)} items")
        out: list[BlockPage | TesseraError] = []
        for r in results:
            if isinstance(r, dict) and "error" in r:
                out.append(error_from_wire(0, r))
            else:
                out.append(BlockPage.from_wire({**r, "block_servers": servers} if isinstance(r, dict) else r))
        return out

    async def get_block_batch(
        self, block_servers: Sequence[str], blocks: Sequence[WantedBlock], spread: int = 0
    ) -> list[bytes | TesseraError]:
        """The bytes of up to 1,000 blocks (at most 64 MiB in all) in one request, in order.

        A block the server could not send comes back as its error; hashes are the caller's to check.
        """
        return await get_block_batch(self._http, block_servers, self._token(), blocks, spread)

    async def put_block(
        self,
        block_servers: Sequence[str],
        index: int,
        block_id: str,
        grant: str,
        data: bytes | bytearray | memoryview,
    ) -> None:
        """PUT one block; ``index`` spreads blocks (and retries) over the block servers.

        ``data`` is sent without copying it: leave it unchanged until this returns.
        """
        await self._http.put_block(
            block_servers, index, block_id, token=self._token(), grant=grant, data=data
        )

    async def get_block(
        self, block_servers: Sequence[str], index: int, block_id: str, grant: str, size: int
    ) -> bytearray:
        """GET one block of ``size`` bytes (its hashes are the caller's to check)."""
        pieces = await self.get_block_pieces(block_servers, index, block_id, grant, size)
        return bytearray().join(pieces)

    async def get_block_pieces(
        self, block_servers: Sequence[str], index: int, block_id: str, grant: str, size: int
    ) -> list[bytes]:
        """GET one block of ``size`` bytes as the pieces it arrived in, not copied into one buffer."""
        return await self._http.get_block(
            block_servers, index, block_id, token=self._token(), grant=grant, size=size
        )

    # -- whole files ----------------------------------------------------------------------------

    async def upload_file(
        self,
        local_path: str | os.PathLike[str],
        remote_path: str,
        mode: str = "overwrite",
        parent_rev: int | None = None,
        progress: Progress | None = None,
        resume: UploadJournal | None = None,
        known: StampedHash | None = None,
    ) -> UploadResult:
        """Upload a local file (only the blocks the server lacks) and commit it.

        With ``resume``, the session is kept in that journal until committed, and
        an upload of the same unchanged file to the same path that was
        interrupted earlier continues its session instead of starting over.
        With ``known`` (hashes the caller took of the file, and the file's stamp
        then), the file is not hashed again if it still has that stamp.
        """
        return await upload_file(
            self,
            local_path,
            remote_path,
            mode=mode,
            parent_rev=parent_rev,
            progress=progress,
            concurrency=self.transfer_concurrency,
            resume=resume,
            known=known,
        )

    async def download_file(
        self,
        remote_path: str,
        local_path: str | os.PathLike[str],
        rev: int | None = None,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Download a file version, verified, atomically into ``local_path``."""
        return await download_file(
            self, remote_path, local_path, rev=rev, progress=progress, concurrency=self.transfer_concurrency
        )
