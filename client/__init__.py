"""The Tessera client: an async library (:class:`TesseraClient`), the sync daemon and the ``tessera`` CLI.

Its layers, each importing only the ones below it (``tests/client/test_layout.py`` checks):

- :mod:`client.cli`: the ``tessera`` command line;
- :mod:`client.sync`: the sync daemon (plan, state, local, remote, execute);
- :mod:`client.transfer`: whole files up and down, and :class:`TesseraClient`;
- :mod:`client.api`: one method per request of docs/api.md, the HTTP transport, the answers;
- :mod:`protocol`, shared with the servers.

The names below load on first use, so ``tessera --help`` does not pay for aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api.models import (
        Account,
        BlockPage,
        ChangesPage,
        ListPage,
        LongPoll,
        Metadata,
        RemoteBlock,
        UploadBlock,
        UploadSession,
    )
    from .api.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy
    from .api.transport import Timeouts
    from .transfer.client import TesseraClient
    from .transfer.download.file import DownloadResult
    from .transfer.progress import NullProgress, Progress
    from .transfer.upload.file import UploadResult

_EXPORTS = {
    "TesseraClient": "transfer.client",
    "Timeouts": "api.transport",
    "Account": "api.models",
    "BlockPage": "api.models",
    "ChangesPage": "api.models",
    "ListPage": "api.models",
    "LongPoll": "api.models",
    "Metadata": "api.models",
    "RemoteBlock": "api.models",
    "UploadBlock": "api.models",
    "UploadSession": "api.models",
    "NullProgress": "transfer.progress",
    "Progress": "transfer.progress",
    "DEFAULT_RETRY": "api.retry",
    "NO_RETRY": "api.retry",
    "RetryPolicy": "api.retry",
    "DownloadResult": "transfer.download.file",
    "UploadResult": "transfer.upload.file",
}

__all__ = [
    "Account",
    "BlockPage",
    "ChangesPage",
    "DEFAULT_RETRY",
    "DownloadResult",
    "ListPage",
    "LongPoll",
    "Metadata",
    "NO_RETRY",
    "NullProgress",
    "Progress",
    "RemoteBlock",
    "RetryPolicy",
    "TesseraClient",
    "Timeouts",
    "UploadBlock",
    "UploadResult",
    "UploadSession",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
