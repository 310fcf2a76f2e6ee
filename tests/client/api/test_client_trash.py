"""The client's trash requests (client/api/trash.py) against the real servers: the listing read
page after page."""

from __future__ import annotations

from tests.client.api.test_client_history import put


async def test_the_listing_is_read_page_after_page(client, tmp_path):
    for i in range(3):
        await put(client, tmp_path, f"/f{i}.txt", b"x" * (i + 1))
        await client.delete(f"/f{i}.txt")
    await put(client, tmp_path, "/Old/a.txt", b"aa")
    await put(client, tmp_path, "/Old/b/c.txt", b"ccc")
    await client.delete("/Old")

    first = await client.trash.page(limit=2)
    assert [e.path for e in first.entries] == ["/Old", "/f2.txt"] and first.has_more
    seen = [e async for e in client.trash.entries(limit=2)]
    assert [(e.path, e.size, e.files, e.bytes) for e in seen] == [
        ("/Old", None, 2, 5), ("/f2.txt", 3, 1, 3), ("/f1.txt", 2, 1, 2), ("/f0.txt", 1, 1, 1)
    ]  # fmt: skip
    assert all(e.item and e.device == "test-device" and e.deleted > 0 for e in seen)
    inside = [e async for e in client.trash.entries("/Old", limit=1)]  # the item, then its rows, one a page
    assert [(e.path, e.item, e.kind, e.size) for e in inside] == [
        ("/Old", True, "folder", None), ("/Old/a.txt", False, "file", 2), ("/Old/b", False, "folder", None)
    ]  # fmt: skip
    assert [e async for e in client.trash.entries("/nothing/here")] == []
