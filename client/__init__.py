"""The Tessera client: an async library (:class:`TesseraClient`), the sync daemon and the ``tessera`` CLI.

Its layers, each importing only the ones below it (``tests/client/test_layout.py`` checks):

- :mod:`client.cli`: the ``tessera`` command line;
- :mod:`client.sync`: the sync daemon (plan, state, local, remote, execute);
- :mod:`client.transfer`: whole files up and down, and :class:`TesseraClient`;
- :mod:`client.api`: one method per request of docs/api.md, and the HTTP transport;
- :mod:`protocol`, shared with the servers (the answers' types are in :mod:`protocol.messages`).

The names below load on first use, so ``tessera --help`` does not pay for aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protocol.messages.auth import Account
    from protocol.messages.blocks import BlockPage, RemoteBlock
    from protocol.messages.changes import ChangesPage, LongPoll
    from protocol.messages.files import ListPage, Metadata
    from protocol.messages.uploads import UploadBlock, UploadSession

    from .api.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy
    from .api.transport import Timeouts
    from .transfer.client import TesseraClient
    from .transfer.download.file import DownloadResult
    from .transfer.progress import NullProgress, Progress
    from .transfer.upload.file import UploadResult

#: name -> the module it comes from (relative to this package, or absolute)
_EXPORTS = {
    "TesseraClient": ".transfer.client",
    "Timeouts": ".api.transport",
    "Account": "protocol.messages.auth",
    "BlockPage": "protocol.messages.blocks",
    "ChangesPage": "protocol.messages.changes",
    "ListPage": "protocol.messages.files",
    "LongPoll": "protocol.messages.changes",
    "Metadata": "protocol.messages.files",
    "RemoteBlock": "protocol.messages.blocks",
    "UploadBlock": "protocol.messages.uploads",
    "UploadSession": "protocol.messages.uploads",
    "NullProgress": ".transfer.progress",
    "Progress": ".transfer.progress",
    "DEFAULT_RETRY": ".api.retry",
    "NO_RETRY": ".api.retry",
    "RetryPolicy": ".api.retry",
    "DownloadResult": ".transfer.download.file",
    "UploadResult": ".transfer.upload.file",
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
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
