"""Transfer progress reporting.

The library reports to any object with ``phase(name, total)`` and
``advance(nbytes)``, always called on the event loop. Upload phases are
``"hash"`` then ``"upload"``; a download has one ``"download"`` phase.
:class:`RichProgress` draws bars on a terminal for the CLI.
"""

from __future__ import annotations

from types import TracebackType
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import rich.progress

HASH = "hash"
UPLOAD = "upload"
DOWNLOAD = "download"


class Progress(Protocol):
    def phase(self, name: str, total: int) -> None:
        """A new phase starts with ``total`` bytes to go (the previous one is over)."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes of the current phase are done."""


class NullProgress:
    """Reports nothing."""

    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass


_LABELS = {HASH: "hashing", UPLOAD: "uploading", DOWNLOAD: "downloading"}


class RichProgress:
    """Progress bars on a terminal (use as a context manager)."""

    def __init__(self, label: str, stream: IO[str]) -> None:
        from rich.console import Console

        self._label = label
        self._console = Console(file=stream)
        self._bars: rich.progress.Progress | None = None
        self._task: rich.progress.TaskID | None = None

    def __enter__(self) -> RichProgress:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._bars.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None

    def phase(self, name: str, total: int) -> None:
        if self._bars is None:
            return
        if self._task is not None:
            self._bars.remove_task(self._task)
        self._task = self._bars.add_task(f"{_LABELS.get(name, name)} {self._label}", total=total)

    def advance(self, nbytes: int) -> None:
        if self._bars is not None and self._task is not None:
            self._bars.advance(self._task, nbytes)
