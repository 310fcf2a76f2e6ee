"""``GET /v1/search``: one page (:func:`search_page`), or page after page (:func:`pages`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from protocol.errors import ProtocolError
from protocol.messages.search import SearchPage, SearchRequest

#: ``ApiClient.call``: one metadata-server request
Call = Callable[..., Awaitable[Any]]


async def search_page(call: Call, request: SearchRequest) -> SearchPage:
    request.check()  # a bad query is refused here as the server would refuse it
    answer = await call("GET", "/v1/search", params=request.to_params(), idempotent=True)
    return SearchPage.from_wire(answer)


async def pages(call: Call, request: SearchRequest) -> AsyncIterator[SearchPage]:
    """Every page of a search from ``request``'s cursor on, fetched as they are consumed."""
    while True:
        page = await search_page(call, request)
        yield page
        if not page.has_more:
            return
        if not page.cursor or page.cursor == request.cursor:
            raise ProtocolError("the search says it has more but gave no new cursor")
        request = replace(request, cursor=page.cursor)
