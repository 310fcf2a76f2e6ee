"""The Tessera client: an async library (:class:`TesseraClient`) and the ``tessera`` CLI.

The names below load on first use, so ``tessera --help`` does not pay for aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import TesseraClient
    from .http import Timeouts
    from .models import (
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
    from .progress import NullProgress, Progress
    from .retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy
    from .transfer_download import DownloadResult
    from .transfer_upload import UploadResult

_EXPORTS = {
    "TesseraClient": "api",
    "Timeouts": "http",
    "Account": "models",
    "BlockPage": "models",
    "ChangesPage": "models",
    "ListPage": "models",
    "LongPoll": "models",
    "Metadata": "models",
    "RemoteBlock": "models",
    "UploadBlock": "models",
    "UploadSession": "models",
    "NullProgress": "progress",
    "Progress": "progress",
    "DEFAULT_RETRY": "retry",
    "NO_RETRY": "retry",
    "RetryPolicy": "retry",
    "DownloadResult": "transfer_download",
    "UploadResult": "transfer_upload",
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
