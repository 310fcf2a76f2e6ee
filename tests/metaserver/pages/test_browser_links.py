"""Share links in a real headless Chromium, signed out: the password form, the folder, a file
download and the folder's zip compared byte for byte, with JavaScript off too; and (with
``TESSERA_SCREENSHOTS=docs/screenshots``) the link pages' screenshots for the docs."""

from __future__ import annotations

import os
import zipfile

import pytest

from tests.metaserver.pages.conftest import api_call, put_file
from tests.metaserver.pages.test_screenshots import _folder, _png

pytestmark = pytest.mark.asyncio(loop_scope="session")
SHOTS = os.environ.get("TESSERA_SCREENSHOTS")
MiB = 1024 * 1024


async def _album(live) -> tuple[str, dict[str, bytes]]:
    token = await live.login()
    files = {
        "/Trips/Album/tram.png": _png(480, 320),
        "/Trips/Album/itinerary.txt": b"Day 1: Alfama\nDay 2: Belem\nDay 3: Sintra\n",
        "/Trips/Album/video.bin": os.urandom(5 * MiB + 7),
        "/Trips/Album/Day 2/harbour.png": _png(64, 64),
        "/Trips/private.txt": b"not in the link",
    }
    for path, data in files.items():
        await put_file(live, token, path, data)
    return token, files


async def _link(live, token: str, path: str, **options) -> str:
    status, body = await api_call(live, token, "POST", "/v1/links", {"path": path, **options})
    assert status == 200, body
    return body["url"]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_open_a_protected_link_signed_out_and_download(browser, live, tmp_path, javascript):
    token, files = await _album(live)
    url = await _link(live, token, "/Trips/Album", password="lisbon in may")
    context = await browser.new_context(accept_downloads=True, java_script_enabled=javascript)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        response = await page.goto(url)
        assert response.status == 401
        await page.get_by_label("Password").fill("not it")
        await page.get_by_role("button", name="Open").click()
        await page.get_by_text("That password is not right.").wait_for()
        await page.get_by_label("Password").fill("lisbon in may")
        await page.get_by_role("button", name="Open").click()
        await page.get_by_role("link", name="itinerary.txt", exact=True).wait_for()
        assert "private.txt" not in await page.content() and "Trips" not in await page.title()
        async with page.expect_download() as info:
            await page.get_by_role("link", name="Download video.bin").click()
        download = await info.value
        assert download.suggested_filename == "video.bin"
        assert (await download.path()).read_bytes() == files["/Trips/Album/video.bin"]
        async with page.expect_download() as info:
            await page.get_by_role("link", name="Download folder (zip)").click()
        download = await info.value
        assert download.suggested_filename == "Album.zip"
        with zipfile.ZipFile(await download.path()) as zf:
            got = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
        assert got == {p[len("/Trips/") :]: d for p, d in files.items() if p.startswith("/Trips/Album/")}
        await page.get_by_role("link", name="Day 2", exact=True).click()
        await page.get_by_role("link", name="harbour.png", exact=True).click()
        await page.get_by_role("img", name="Preview of harbour.png").wait_for()
        assert await page.get_by_role("img").evaluate("i => i.naturalWidth") == 64
        assert errors == []
    finally:
        await context.close()


async def test_a_revoked_link_says_so_in_the_browser(browser, live):
    token, _ = await _album(live)
    url = await _link(live, token, "/Trips/Album/itinerary.txt", view_only=True)
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(url)
        await page.get_by_text("Day 2: Belem").wait_for()  # the text preview
        assert await page.get_by_role("link", name="Download").count() == 0
        status, body = await api_call(live, token, "GET", "/v1/links")
        await api_call(live, token, "POST", "/v1/links/revoke", {"id": body["links"][0]["id"]})
        response = await page.reload()
        assert response.status == 410
        await page.get_by_text("this link was turned off by its owner").wait_for()
    finally:
        await context.close()


@pytest.mark.skipif(not SHOTS, reason="set TESSERA_SCREENSHOTS=<folder> to take the docs' screenshots")
async def test_take_link_screenshots(browser, live):
    out = _folder(SHOTS)
    token, _ = await _album(live)
    protected = await _link(live, token, "/Trips/Album", password="lisbon in may")
    text = await _link(live, token, "/Trips/Album/itinerary.txt", view_only=True)
    gone = await _link(live, token, "/Trips/Album/tram.png", expires_in=60)
    async with live.pool.acquire() as conn:
        await conn.execute("UPDATE links SET expires_at = now() WHERE path = '/Trips/Album/tram.png'")
    for name, viewport in (("", {"width": 1200, "height": 720}), ("-phone", {"width": 390, "height": 780})):
        context = await browser.new_context(viewport=viewport, is_mobile=bool(name), locale="en-GB")
        page = await context.new_page()
        await page.goto(protected)
        await page.screenshot(path=str(out / f"link-password{name}.png"))
        await page.get_by_label("Password").fill("lisbon in may")
        await page.get_by_role("button", name="Open").click()
        await page.get_by_role("link", name="itinerary.txt", exact=True).wait_for()
        await page.screenshot(path=str(out / f"link-folder{name}.png"))
        await page.get_by_role("link", name="tram.png", exact=True).click()
        await page.get_by_role("img", name="Preview of tram.png").wait_for()
        await page.screenshot(path=str(out / f"link-file{name}.png"))
        await page.goto(text)
        await page.screenshot(path=str(out / f"link-view-only{name}.png"))
        await page.goto(gone)
        await page.screenshot(path=str(out / f"link-gone{name}.png"))
        await context.close()
