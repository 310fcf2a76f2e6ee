"""The requests of the Tessera API, one async method each: :class:`ApiClient`.

    async with TesseraClient("http://127.0.0.1:8080", token) as client:
        async for page in client.list_folder("/Docs"):
            ...

Methods mirror docs/api.md one to one. Every failure is a
:class:`protocol.errors.TesseraError`; transient ones were already retried per
the client's :class:`~client.api.retry.RetryPolicy`. Users hold a
:class:`client.TesseraClient` (:mod:`client.transfer.client`): these requests, plus the
whole-file transfers built on them.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import quote

from protocol import paths
from protocol.errors import BadRequest, ProtocolError, TesseraError, error_from_wire
from protocol.hashing import BlockHash
from protocol.messages.blocks import BlockPage
from protocol.messages.changes import ChangesPage, LongPoll
from protocol.messages.files import ListPage, Metadata, Restore, Revisions
from protocol.messages.incoming import IncomingPage, IncomingUpload, IncomingUploads
from protocol.messages.search import SearchPage, SearchRequest
from protocol.messages.uploads import BlocksPart, UploadRequest, UploadSession, check_mode
from protocol.messages.wire import batch_results

from .account import AccountRequests
from .blocks import WantedBlock, get_block_batch, put_block_batch
from .links import LinkRequests
from .longpoll import LongPoller
from .search import pages, search_page
from .shares import ShareRequests
from .trash import TrashRequests


class ApiClient(AccountRequests, LinkRequests):
    """An authenticated connection to one Tessera server (use as an async context manager)."""

    @functools.cached_property
    def _longpoll(self) -> LongPoller:
        return LongPoller(self.transport, self.server_url, self.call, self.require_token, self.notify_hosts)

    # -- files and folders ------------------------------------------------------------------

    async def meta(self, path: str) -> Metadata:
        answer = await self.call(
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
                await self.call("GET", "/v1/files/list", params=params, idempotent=True)
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
        """The versions of the file ``path`` names, newest first (also in the trash, and after a
        move: history follows the file)."""
        params = {"path": paths.normalize(path), "limit": str(limit)}
        return Revisions.from_wire(await self.call("GET", "/v1/files/revisions", params=params, idempotent=True))

    async def restore(self, path: str, rev: int | None = None, *, version: int | None = None) -> Metadata:
        """Make a version of the file ``path`` names (by ``rev``, or its ``version`` number in the
        file) its current content again, as a new revision; a file in the trash comes back first."""
        if (rev is None) == (version is None):
            raise BadRequest("restore takes a rev or a version number")
        body = Restore(path, rev, version).to_wire()  # type: ignore[attr-defined]
        # idempotent: the server makes no new revision when the path already holds that content
        return Metadata.from_wire(await self.call("POST", "/v1/files/restore", body=body, idempotent=True))

    @functools.cached_property
    def trash(self) -> TrashRequests:
        """The trash's requests: ``client.trash.entries(path)``, ``.restore(path)``, ``.purge(path)``."""
        return TrashRequests(self.call)

    @functools.cached_property
    def shares(self) -> ShareRequests:
        """Shared folders' requests: ``client.shares.create(path)``, ``.invite(...)``, ``.listing()``..."""
        return ShareRequests(self.call)

    async def mkdir(self, path: str) -> Metadata:
        body = {"path": paths.normalize(path)}
        return Metadata.from_wire(await self.call("POST", "/v1/files/mkdir", body=body, idempotent=False))

    async def delete(self, path: str, if_rev: int | None = None) -> Metadata:
        """Delete a file, or a folder with everything in it; with ``if_rev``, only a file still at
        that revision (:class:`~protocol.errors.Conflict` otherwise, and nothing is deleted)."""
        body: dict[str, Any] = {"path": paths.normalize(path)}
        if if_rev is not None:
            body["if_rev"] = if_rev
        return Metadata.from_wire(await self.call("POST", "/v1/files/delete", body=body, idempotent=False))

    async def move(self, from_path: str, to_path: str) -> Metadata:
        body = {"from": paths.normalize(from_path), "to": paths.normalize(to_path)}
        return Metadata.from_wire(await self.call("POST", "/v1/files/move", body=body, idempotent=False))

    async def copy(self, from_path: str, to_path: str) -> Metadata:
        """Copy a file or folder on the server (no byte is sent again); the copy's metadata."""
        body = {"from": paths.normalize(from_path), "to": paths.normalize(to_path)}
        return Metadata.from_wire(await self.call("POST", "/v1/files/copy", body=body, idempotent=False))

    async def search(self, request: SearchRequest) -> SearchPage:
        """One page of names that match (``GET /v1/search``), best first."""
        return await search_page(self.call, request)

    def search_pages(self, request: SearchRequest) -> AsyncIterator[SearchPage]:
        """Every page of a search, fetched as consumed."""
        return pages(self.call, request)

    # -- change feed ------------------------------------------------------------------------

    async def changes(self, cursor: str = "", limit: int | None = None) -> ChangesPage:
        """One page of what changed after ``cursor``; an empty cursor starts with a full listing.

        Entries come in order: files, folders, ``deleted`` markers and ``pending``
        uploads. A cursor the server no longer accepts raises
        :class:`~protocol.errors.CursorReset`: list again from an empty cursor.
        """
        params: dict[str, object] = {"cursor": cursor or None, "limit": limit}
        return ChangesPage.from_wire(await self.call("GET", "/v1/changes", params=params, idempotent=True))

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
        answer = await self.call("GET", "/v1/changes/latest_cursor", idempotent=True)
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
        return await self._longpoll.poll(cursor, timeout)

    async def longpoll_url(self) -> str:
        """Where this client long-polls: the notify endpoint the server names (``GET /v1/changes/notify``),
        or the metadata server's own route if it names none."""
        return await self._longpoll.url()

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
        check_mode(mode)
        request = UploadRequest(
            path, size, blocks, content_hash, mode, parent_rev, client_modified, blocks_complete
        )
        body = request.to_wire()
        return UploadSession.from_wire(await self.call("POST", "/v1/uploads", body=body, idempotent=True))

    async def append_upload_blocks(
        self, upload_id: str, start: int, blocks: Sequence[BlockHash], *, content_hash: str | None = None
    ) -> UploadSession:
        """List the next part of an open session's block list, from index ``start``; the answer
        names this part's blocks. Retried freely: a part sent again is answered again."""
        body = BlocksPart(start, blocks, content_hash).to_wire()
        answer = await self.call("POST", f"/v1/uploads/{quote(upload_id, safe='')}/blocks", body=body, idempotent=True)
        return UploadSession.from_wire(answer)

    async def upload_status(self, upload_id: str) -> UploadSession:
        """The session's current state, with fresh grants for the blocks still needed."""
        answer = await self.call("GET", f"/v1/uploads/{quote(upload_id, safe='')}", idempotent=True)
        return UploadSession.from_wire(answer)

    async def commit_upload(self, upload_id: str) -> Metadata:
        """Commit a session. Retried freely: the server answers a repeated commit with its result."""
        answer = await self.call(
            "POST", f"/v1/uploads/{quote(upload_id, safe='')}/commit", body={}, idempotent=True
        )
        return Metadata.from_wire(answer)

    async def create_upload_batch(self, files: Sequence[UploadRequest]) -> list[UploadSession | TesseraError]:
        """Open a session for each of 1 to 1,000 files (``POST /v1/uploads/batch``), in order; a file
        the server refused comes back as its error. Retried freely, as :meth:`create_upload`."""
        body = {"files": [f.to_wire() for f in files]}
        answer = await self.call("POST", "/v1/uploads/batch", body=body, idempotent=True)
        return [
            error_from_wire(0, r) if "error" in r else UploadSession.from_wire(r)
            for r in batch_results(answer, "uploads", len(files))
        ]

    async def commit_upload_batch(self, upload_ids: Sequence[str]) -> list[Metadata | TesseraError]:
        """Commit several sessions (``POST /v1/uploads/commit_batch``), in order; a session that
        could not be committed comes back as its error. Retried freely, as :meth:`commit_upload`."""
        body = {"upload_ids": list(upload_ids)}
        answer = await self.call("POST", "/v1/uploads/commit_batch", body=body, idempotent=True)
        return [
            error_from_wire(0, r) if "error" in r else Metadata.from_wire(r)
            for r in batch_results(answer, "results", len(upload_ids))
        ]

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
            await self.call("GET", "/v1/files/blocks", params=params, idempotent=True)
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
        return IncomingUploads.from_wire(await self.call("GET", "/v1/uploads/incoming", idempotent=True)).uploads

    async def incoming_blocks(
        self, upload_id: str, *, start: int = 0, limit: int | None = None
    ) -> IncomingPage:
        """One page of a pending upload's block list; NotFound once it is committed or gone."""
        params: dict[str, object] = {"start": start, "limit": limit}
        return IncomingPage.from_wire(
            await self.call("GET", f"/v1/uploads/incoming/{upload_id}", params=params, idempotent=True)
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
        answer = await self.call("POST", "/v1/files/blocks_batch", body=body, idempotent=True)
        return BlockPage.list_from_batch(answer, len(files))

    async def get_block_batch(
        self, block_servers: Sequence[str], blocks: Sequence[WantedBlock], spread: int = 0
    ) -> list[bytes | TesseraError]:
        """The bytes of up to 1,000 blocks (at most 64 MiB in all) in one request, in order.

        A block the server could not send comes back as its error; hashes are the caller's to check.
        """
        return await get_block_batch(self.transport, block_servers, self.require_token(), blocks, spread)

    async def put_block_batch(self, block_servers: Sequence[str], body: bytes, count: int) -> list[dict[str, Any]]:
        """Store ``count`` blocks framed in ``body`` (:mod:`protocol.blockbatch`: each block's id and put
        grant, then its bytes) in one request; one result object per block, in order (``state``
        ``stored``, or an ``error``). Retried freely, the next block server each time."""
        return await put_block_batch(self.transport, block_servers, self.require_token(), body, count)

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
        await self.transport.put_block(
            block_servers, index, block_id, token=self.require_token(), grant=grant, data=data
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
        return await self.transport.get_block(
            block_servers, index, block_id, token=self.require_token(), grant=grant, size=size
        )
