"""The pages that read other parts' API routes: search as you type, the trash, storage used.

Each test skips, saying why, on a server that does not have its route yet
(:func:`~tests.metaserver.pages.conftest.skip_unless_route`)."""

from __future__ import annotations

import pytest

from tests.metaserver.pages.conftest import api_call, put_file, skip_unless_route

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_search_as_you_type(tab, live):
    token = await live.login()
    await skip_unless_route(live, token, "/v1/search?q=x")
    await put_file(live, token, "/Reports/quarterly report.txt", b"q")
    await put_file(live, token, "/<img src=x onerror=alert(1)> report.txt", b"x")
    await put_file(live, token, "/notes.md", b"n")
    await tab.page.add_init_script("window.__xss = []; window.alert = (m) => window.__xss.push(m);")
    await tab.sign_in()
    page = tab.page
    await page.get_by_label("Search files").press_sequentially("report", delay=30)
    results = page.locator("#search-results")
    await results.get_by_role("option", name="/Reports/quarterly report.txt").wait_for()
    assert await results.get_by_role("option", name="/<img src=x onerror=alert(1)> report.txt").count() == 1
    assert await results.get_by_role("option", name="/notes.md").count() == 0
    first = await results.get_by_role("option").first.get_attribute("href")
    await page.get_by_label("Search files").press("ArrowDown")  # to the best match, by keyboard
    await page.keyboard.press("Enter")
    await page.wait_for_url(live.meta_url + first)
    await page.goto(live.meta_url + "/search?q=report")  # the full list
    await page.locator("#search-page").get_by_role("link", name="/Reports/quarterly report.txt").wait_for()
    assert await page.evaluate("window.__xss") == [] and tab.dialogs == []


async def test_delete_restore_from_the_trash_and_purge(tab, live):
    token = await live.login()
    await skip_unless_route(live, token, "/v1/trash")
    await put_file(live, token, "/keep me.txt", b"precious")
    await put_file(live, token, "/lose me.txt", b"junk")
    await tab.sign_in()
    page = tab.page
    for name in ("keep me.txt", "lose me.txt"):
        await page.get_by_role("button", name=f"Delete {name}").click()
        await page.locator("#dlg-delete").get_by_role("button", name="Delete").click()
        await page.locator(f'tr[data-path="/{name}"]').wait_for(state="detached")
    await page.get_by_role("link", name="Trash").click()
    await page.get_by_role("button", name="Restore /keep me.txt").click()
    await page.get_by_role("button", name="Restore /keep me.txt").wait_for(state="detached")
    status, meta = await api_call(live, token, "GET", "/v1/files/meta", path="/keep me.txt")
    assert status == 200 and meta["size"] == len(b"precious")
    tab.accept_dialogs = True  # "Delete for good?"
    await page.get_by_role("button", name="Delete for good /lose me.txt").click()
    await page.locator(".empty", has_text="The trash is empty").wait_for()
    status, answer = await api_call(live, token, "GET", "/v1/trash")
    assert status == 200 and answer["entries"] == []


async def test_storage_used_by_kind(tab, live):
    token = await live.login()
    await skip_unless_route(live, token, "/v1/usage")
    await put_file(live, token, "/a.bin", b"a" * 900)
    await put_file(live, token, "/a.bin", b"b" * 2000)  # the first version is kept
    await put_file(live, token, "/gone.bin", b"c" * 3000)
    await api_call(live, token, "POST", "/v1/files/delete", {"path": "/gone.bin"})
    await tab.sign_in()
    await tab.page.get_by_role("link", name="Account").click()
    breakdown = tab.page.locator("#usage-breakdown")
    await breakdown.wait_for()
    texts = await breakdown.locator("dd").all_inner_texts()
    assert texts == ["2 KiB", "900 B", "2.9 KiB"], texts  # current, older versions, trash
