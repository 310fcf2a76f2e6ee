"""The block server's PUT slots: how many block uploads it receives at once, and a fair share each.

A PUT (or a block batch) holds a slot while its body streams into the store; a slot bounds the
memory and the store connections one upload takes. Of the ``total`` slots, one user may hold
at most ``per_user`` at a time: a user's further uploads wait for one of *their own* slots
(and so hold none of the others'), so no one user, however many uploads they start or however
slowly they send them, can make another user's upload wait. An upload that gets no slot
within ``queue_timeout`` is answered 503 ``unavailable`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from protocol.errors import Unavailable


@dataclass(slots=True)
class _UserSlots:
    slots: asyncio.Semaphore
    #: uploads of the user holding or waiting for a slot (the entry goes when none is)
    uploads: int = 0


class PutSlots:
    def __init__(self, total: int, per_user: int, queue_timeout: float) -> None:
        if total < 1 or per_user < 1:
            raise ValueError("PUT slots: total and per_user must be at least 1")
        self.total = total
        self.per_user = min(per_user, total)
        self.queue_timeout = queue_timeout
        self._free = asyncio.Semaphore(total)
        self._users: dict[int, _UserSlots] = {}
        #: slots held now (the metrics' ``tessera_put_slots_in_use``)
        self.in_use = 0

    @contextlib.asynccontextmanager
    async def slot(self, user_id: int) -> AsyncIterator[None]:
        """One of the user's slots and one of the server's, or Unavailable after ``queue_timeout`` seconds."""
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = _UserSlots(asyncio.Semaphore(self.per_user))
        user.uploads += 1
        try:
            try:
                async with asyncio.timeout(self.queue_timeout):
                    await user.slots.acquire()  # the user's own turn first: waiting holds no shared slot
                    try:
                        await self._free.acquire()
                    except BaseException:
                        user.slots.release()
                        raise
            except TimeoutError:
                raise Unavailable("the block server is busy; try again", retry_after=1) from None
            self.in_use += 1
            try:
                yield
            finally:
                self.in_use -= 1
                self._free.release()
                user.slots.release()
        finally:
            user.uploads -= 1
            if user.uploads == 0:
                del self._users[user_id]
