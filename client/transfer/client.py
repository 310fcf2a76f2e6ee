"""The Tessera client library: one async client for the CLI, the sync daemon and the bench.

    async with TesseraClient("http://127.0.0.1:8080", token) as client:
        await client.upload_file("notes.txt", "/Docs/notes.txt")
        async for page in client.list_folder("/Docs"):
            ...

:class:`TesseraClient` is every request of :class:`~client.api.client.ApiClient` (docs/api.md,
one method each) plus the whole-file transfers built on them: :meth:`TesseraClient.upload_file`
and :meth:`TesseraClient.download_file`. Every failure is a
:class:`protocol.errors.TesseraError`; transient ones were already retried per the client's
:class:`~client.api.retry.RetryPolicy`.
"""

from __future__ import annotations

import os

from client.api.client import ApiClient

from .download.file import DownloadResult, download_file
from .filehash import StampedHash
from .progress import Progress
from .upload.file import UploadResult, upload_file
from .upload.journal import UploadJournal


class TesseraClient(ApiClient):
    """An authenticated connection to one Tessera server (use as an async context manager).

    ``transfer_concurrency`` (see :class:`~client.api.connection.Connection`): the blocks of one
    file sent or fetched at once by :meth:`upload_file` and :meth:`download_file`.
    """

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
