"""The Link dialog and the links page in a real headless Chromium: a link made with a password and
an expiry, copied, opened in a second, signed-out browser (the password first, then a download
compared byte for byte), revoked (the link's page says so: 410); a view-only link that never
expires, revoked from the links page; the copy fallback where the clipboard is refused."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta

import pytest

from tests.metaserver.pages.conftest import api_call, put_file

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _links(live, token: str) -> list[dict]:
    status, body = await api_call(live, token, "GET", "/v1/links")
    assert status == 200, body
    return body["links"]


async def _link_dialog(tab, live, path: str, data: bytes = b"a", *, before=None):
    """alice's ``path`` (a file of ``data``), her page signed in at its folder, and the Link
    dialog of ``path`` open (``before``: a script the page runs first)."""
    token = await live.login()
    await put_file(live, token, path, data)
    await tab.sign_in()
    if before:
        await tab.page.evaluate(before)
    name = path.strip("/").split("/")[0]  # the row at the root: the file, or its top folder
    await tab.page.get_by_role("button", name=f"Get a link to {name}").click()
    return token, tab.page, tab.page.locator("#dlg-link")


async def test_make_a_protected_link_copy_it_open_it_signed_out_and_revoke_it(tab, live, browser):
    token = await live.login()
    data = os.urandom(300_000)
    await put_file(live, token, "/Docs/report.bin", data)
    await tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.meta_url)
    await tab.sign_in()
    page = tab.page
    await page.goto(live.meta_url + "/files/Docs")
    await page.get_by_role("button", name="Get a link to report.bin").click()
    dlg = page.locator("#dlg-link")
    await dlg.get_by_text("No links to it yet.").wait_for()
    await dlg.get_by_label("Expires").select_option("date")
    day = date.today() + timedelta(days=3)
    await dlg.get_by_label("Expiry date").fill(day.isoformat())
    await dlg.get_by_label("Password (optional)").fill("correct horse")
    await dlg.get_by_role("button", name="Create link").click()
    url_box = dlg.get_by_label("The new link (shown only now: copy it)")
    await url_box.wait_for()
    url = await url_box.input_value()
    assert url.startswith(live.meta_url + "/s/")
    await dlg.get_by_role("button", name="Copy").click()
    await page.locator("#toast", has_text="Link copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == url
    item = dlg.locator(".link-items li")
    await item.wait_for()
    assert "password" in await item.inner_text()
    [link] = await _links(live, token)
    assert link["path"] == "/Docs/report.bin" and link["password"] and not link["view_only"]
    end_of_day = datetime.combine(day, datetime.max.time()).timestamp()  # the browser's zone is this machine's
    assert abs(link["expires"] - end_of_day) < 2 and link["expires"] > time.time() + 2 * 86400

    visitor = await browser.new_context(accept_downloads=True)
    try:
        v = await visitor.new_page()
        assert (await v.goto(url)).status == 401
        await v.get_by_label("Password").fill("correct horse")
        await v.get_by_role("button", name="Open").click()
        async with v.expect_download() as info:
            await v.get_by_role("link", name="Download", exact=True).click()
        download = await info.value
        assert download.suggested_filename == "report.bin"
        assert (await download.path()).read_bytes() == data

        await dlg.get_by_role("button", name=f"Revoke link {link['id']} to /Docs/report.bin").click()
        await dlg.locator('.link-items li[data-state="revoked"]').wait_for()
        response = await v.reload()
        assert response.status == 410
        await v.get_by_text("this link was turned off by its owner").wait_for()
    finally:
        await visitor.close()
    assert [x["state"] for x in await _links(live, token)] == ["revoked"]
    assert tab.errors == []


async def test_a_view_only_link_that_never_expires_revoked_from_the_links_page(tab, live, browser):
    token, page, dlg = await _link_dialog(tab, live, "/Album/a.txt", b"holiday")
    await dlg.get_by_label("Expires").select_option("")
    await dlg.get_by_label("View only: no downloads").check()
    await dlg.get_by_role("button", name="Create link").click()
    await dlg.locator(".link-made").wait_for()
    url = await dlg.locator("#link-url").input_value()
    await dlg.locator(".link-items li").wait_for()
    [link] = await _links(live, token)
    assert link["view_only"] and link["expires"] is None and not link["password"]
    await dlg.get_by_role("link", name="All your links").click()
    await page.wait_for_url("**/links")
    row = page.locator(f'tr[data-link-id="{link["id"]}"]')
    assert "view only" in await row.inner_text() and "never expires" in await row.inner_text()
    assert await row.get_by_role("link", name="/Album").get_attribute("href") == "/files/Album"
    visitor = await browser.new_context()
    try:
        v = await visitor.new_page()
        await v.goto(url)
        await v.get_by_text("View only: this link does not allow downloads.").wait_for()
        await row.get_by_role("button", name=f"Revoke link {link['id']} to /Album").click()
        await page.locator(f'tr[data-link-id="{link["id"]}"][data-state="revoked"]').wait_for()
        assert (await v.reload()).status == 410
    finally:
        await visitor.close()


async def test_copy_falls_back_to_selecting_the_link(tab, live):
    # no clipboard, as on a page served over plain http from another host
    _, page, dlg = await _link_dialog(tab, live, "/a.txt", before="Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    await dlg.get_by_role("button", name="Create link").click()
    await dlg.locator(".link-made").wait_for()
    await page.evaluate("document.getSelection().removeAllRanges(); document.activeElement.blur()")
    await dlg.get_by_role("button", name="Copy").click()
    await page.locator("#toast", has_text="copied").or_(page.locator("#toast", has_text="Ctrl+C")).wait_for()
    selected = await page.evaluate("[document.activeElement.id, document.activeElement.selectionStart, document.activeElement.selectionEnd]")
    assert selected == ["link-url", 0, len(await dlg.locator("#link-url").input_value())]


async def test_a_short_password_and_a_past_date_are_refused_in_the_dialog(tab, live):
    token, page, dlg = await _link_dialog(tab, live, "/a.txt")
    await dlg.get_by_label("Expires").select_option("date")
    await dlg.get_by_label("Expiry date").fill(date.today().isoformat())
    await dlg.get_by_role("button", name="Create link").click()  # the date input's min stops it first
    assert await dlg.get_by_label("Expiry date").evaluate("i => i.validity.rangeUnderflow")
    await dlg.get_by_label("Expires").select_option("86400")
    await dlg.get_by_label("Password (optional)").evaluate("i => { i.removeAttribute('minlength'); i.value = 'short'; }")
    await dlg.get_by_role("button", name="Create link").click()
    alert = dlg.locator(".error")
    await alert.wait_for()
    assert "at least" in await alert.inner_text()
    assert await _links(live, token) == []
