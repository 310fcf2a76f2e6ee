"""Keeping a file descriptor open while worker threads still use it.

``asyncio.to_thread`` cannot stop a thread: a cancelled transfer may still
have a read or write running. Closing the descriptor under it would let the
number be reused by another file, so ``close`` waits for running uses first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class UseGuard:
    """Counts running uses of a resource; :meth:`close` waits until none is left (blocking)."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def use(self) -> Iterator[None]:
        with self._cond:
            if self._closed:
                raise ValueError(f"{self._what} is closed")
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if not self._active:
                    self._cond.notify_all()

    def close(self) -> bool:
        """Refuse new uses and wait for running ones; False if it was already closed."""
        with self._cond:
            if self._closed:
                return False
            self._closed = True
            while self._active:
                self._cond.wait()
            return True
