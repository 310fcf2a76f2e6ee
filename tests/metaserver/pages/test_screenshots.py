"""Screenshots of the web app's main pages for the docs (docs/screenshots/*.png).

Not part of a normal run: ``TESSERA_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest
tests/metaserver/pages/test_screenshots.py`` takes them again, in a real Chromium against real
servers with a small made-up tree.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest

from tests.metaserver.pages.conftest import api_call, put_file, sign_in_page
from tests.metaserver.pages.test_browser_files import PDF

OUT = os.environ.get("TESSERA_SCREENSHOTS")
pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not OUT, reason="set TESSERA_SCREENSHOTS=<folder> to take the docs' screenshots"),
]


def _png(width: int, height: int) -> bytes:
    """A small gradient picture, made here (no image library needed)."""
    rows = b"".join(
        b"\0" + b"".join(bytes((40 + x * 180 // width, 90 + y * 120 // height, 200 - x * 100 // width))
                         for x in range(width))
        for y in range(height)
    )  # fmt: skip

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    head = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def _tree(live) -> None:
    async with live.pool.acquire() as conn:
        await conn.execute("UPDATE users SET quota_bytes = 10::bigint * 1024 * 1024 * 1024")
    token = await live.login(device="work laptop")
    await live.login(device="phone")
    for folder in ("/Documents", "/Photos/2026 Lisbon", "/Music", "/Projects/tessera"):
        await api_call(live, token, "POST", "/v1/files/mkdir", {"path": folder})
    notes = "Shopping\n- bread\n- olive oil\n- oranges\n\nCall the plumber on Tuesday.\n"
    await put_file(live, token, "/notes.md", b"# Notes\n\nFirst draft.\n")
    await put_file(live, token, "/notes.md", ("# Notes\n\n" + notes).encode())
    await put_file(live, token, "/Budget 2026.xlsx", os.urandom(48_213))
    await put_file(live, token, "/Photos/2026 Lisbon/tram.png", _png(480, 320))
    await put_file(live, token, "/Photos/harbour.png", _png(64, 64))
    await put_file(live, token, "/Quarterly report.pdf", PDF)
    await put_file(live, token, "/Projects/tessera/app.py", b"print('hello')\n")
    await put_file(live, token, "/Holiday video.mp4", os.urandom(2 * 1024 * 1024 + 5))


def _folder(path: str) -> Path:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _count_pngs(out: Path) -> int:
    return len(list(out.glob("*.png")))


async def _has_route(live, endpoint: str) -> bool:
    token = await live.login()
    status, body = await api_call(live, token, "GET", endpoint)
    return not (status == 404 and "no such endpoint" in body.get("error", {}).get("message", ""))


async def _uploads(page, out: Path, tmp: Path) -> None:
    """The upload panel: a folder of photos picked, each file's bar and the total."""
    folder = tmp / "Lisbon 2026"
    folder.mkdir()
    for i, size in enumerate((2_400_000, 3_100_000, 1_800_000, 2_900_000)):
        (folder / f"IMG_20{i:02}.jpg").write_bytes(os.urandom(size))
    await page.set_input_files("#pick-folder", str(folder))
    await page.wait_for_selector('#uploads[data-state="done"]', timeout=60_000)
    await page.screenshot(path=str(out / "uploads.png"))


async def _lifecycle_pages(page, live, out: Path) -> None:
    """Search as you type and the trash, where this server has their routes."""
    if await _has_route(live, "/v1/search?q=x"):
        await page.get_by_label("Search files").press_sequentially("not", delay=30)
        await page.locator("#search-results [role=option]").first.wait_for()
        await page.screenshot(path=str(out / "search.png"))
        await page.keyboard.press("Escape")
    if await _has_route(live, "/v1/trash"):
        token = await live.login()
        for path in ("/Music", "/Holiday video.mp4"):
            await api_call(live, token, "POST", "/v1/files/delete", {"path": path})
        await page.goto(live.meta_url + "/trash")
        await page.get_by_role("button", name="Restore /Music").wait_for()
        await page.screenshot(path=str(out / "trash.png"))


async def test_take_screenshots(browser, live, tmp_path):
    out = _folder(OUT)
    await _tree(live)
    phone = await browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, locale="en-GB")
    page = await phone.new_page()
    await sign_in_page(page, live.meta_url)
    await page.screenshot(path=str(out / "files-phone.png"))
    await page.get_by_role("button", name="Sign out").click()  # not in the devices shot
    await page.wait_for_url("**/login")
    await phone.close()
    context = await browser.new_context(viewport={"width": 1200, "height": 760}, locale="en-GB", timezone_id="Europe/Lisbon")
    page = await context.new_page()
    await page.goto(live.meta_url + "/login")
    await page.get_by_label("User name").fill("alice")
    await page.screenshot(path=str(out / "login.png"))
    await page.get_by_label("Password").fill("secret-pw")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/files/")
    await page.screenshot(path=str(out / "files.png"))
    await page.get_by_role("button", name="Rename Budget 2026.xlsx").click()
    await page.screenshot(path=str(out / "rename.png"))
    await page.keyboard.press("Escape")
    await page.goto(live.meta_url + "/files/notes.md")
    await page.screenshot(path=str(out / "file-text.png"))
    await page.goto(live.meta_url + "/files/Photos/2026%20Lisbon/tram.png")
    await page.get_by_role("img", name="Preview of tram.png").wait_for()
    await page.screenshot(path=str(out / "file-image.png"))
    await page.goto(live.meta_url + "/files/Quarterly%20report.pdf")
    await page.wait_for_timeout(1500)  # the PDF viewer draws
    await page.screenshot(path=str(out / "file-pdf.png"))
    await page.goto(live.meta_url + "/devices")
    await page.get_by_role("cell", name="phone", exact=True).wait_for()
    await page.screenshot(path=str(out / "devices.png"))
    await page.goto(live.meta_url + "/files/Photos")
    await _uploads(page, out, tmp_path)
    await _lifecycle_pages(page, live, out)
    await page.goto(live.meta_url + "/account")
    await page.wait_for_timeout(500)  # the usage by kind, where the server has it
    await page.screenshot(path=str(out / "account.png"))
    await context.close()
    assert _count_pngs(out) >= 10
