"""Browsing and changing files in a real browser: the listing, the dialogs, versions, previews,
downloads, live updates, and file names that try to be markup."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.client.cli.cli_run import Tessera, login
from tests.metaserver.pages.conftest import api_call, put_file, sign_in_page

pytestmark = pytest.mark.asyncio(loop_scope="session")


def row(page, path: str):
    return page.locator(f'tr[data-path="{path}"]')


async def test_browse_sorts_and_shows_breadcrumbs(tab, live):
    token = await live.login()
    await put_file(live, token, "/Docs/b-large.txt", b"x" * 5000)
    await put_file(live, token, "/Docs/a-small.png", b"y" * 10)
    await put_file(live, token, "/Docs/c-mid.pdf", b"z" * 300)
    await api_call(live, token, "POST", "/v1/files/mkdir", {"path": "/Docs/Sub"})
    await tab.sign_in()
    await tab.page.get_by_role("link", name="Docs").click()
    await tab.page.wait_for_url("**/files/Docs")
    names = await tab.page.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.name)")
    assert names == ["Sub", "a-small.png", "b-large.txt", "c-mid.pdf"]  # folders first, then by name
    icons = await tab.page.locator("tbody svg.icon").evaluate_all("ss => ss.map(s => s.classList[1])")
    assert icons == ["icon-folder", "icon-image", "icon-text", "icon-pdf"]
    for link, query, order in (("Size", "sort=size", ["Sub", "a-small.png", "c-mid.pdf", "b-large.txt"]),
                               ("Size", "sort=size&order=desc", ["Sub", "b-large.txt", "c-mid.pdf", "a-small.png"]),
                               ("Modified", "sort=modified", ["Sub", "b-large.txt", "a-small.png", "c-mid.pdf"])):  # fmt: skip
        await tab.page.get_by_role("link", name=link).click()
        await tab.page.wait_for_url("**?" + query)
        names = await tab.page.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.name)")
        assert names == order, (link, names)
    assert await tab.page.get_by_role("columnheader", name="Modified").get_attribute("aria-sort") == "ascending"
    crumbs = await tab.page.locator("nav.crumbs li").all_inner_texts()
    assert [c.strip() for c in crumbs] == ["Files", "Docs"]
    size = await row(tab.page, "/Docs/b-large.txt").locator("td.num").inner_text()
    assert "KiB" in size  # formatted by the page (Intl), in the browser's locale


async def test_new_folder_rename_move_delete(tab, live):
    token = await live.login()
    await put_file(live, token, "/report.txt", b"first draft")
    await tab.sign_in()
    page = tab.page
    await page.get_by_role("button", name="New folder").click()
    await page.get_by_label("Folder name").fill("Archive")
    await page.get_by_role("button", name="Create").click()
    await row(page, "/Archive").wait_for()

    await page.get_by_role("button", name="Rename report.txt").click()
    await page.get_by_label("New name").fill("final report.txt")
    await page.get_by_role("button", name="Rename", exact=True).click()
    await row(page, "/final report.txt").wait_for()

    await page.get_by_role("button", name="Move final report.txt").click()
    await page.get_by_label("Destination folder").fill("/Archive")
    await page.get_by_role("button", name="Move", exact=True).click()
    await row(page, "/final report.txt").wait_for(state="detached")
    status, meta = await api_call(live, token, "GET", "/v1/files/meta", path="/Archive/final report.txt")
    assert status == 200 and meta["size"] == len(b"first draft")

    await page.get_by_role("button", name="Delete Archive").click()
    await page.locator("#dlg-delete").get_by_role("button", name="Delete").click()
    await row(page, "/Archive").wait_for(state="detached")
    status, _ = await api_call(live, token, "GET", "/v1/files/meta", path="/Archive")
    assert status == 404


async def test_a_failed_rename_says_why_in_the_dialog(tab, live):
    token = await live.login()
    await put_file(live, token, "/a.txt", b"a")
    await put_file(live, token, "/b.txt", b"b")
    await tab.sign_in()
    await tab.page.get_by_role("button", name="Rename a.txt").click()
    await tab.page.get_by_label("New name").fill("b.txt")
    await tab.page.get_by_role("button", name="Rename", exact=True).click()
    alert = tab.page.locator("#dlg-rename .error")
    await alert.wait_for()
    assert "exist" in (await alert.inner_text()).lower()


async def test_restore_an_old_version(tab, live):
    token = await live.login()
    old = await put_file(live, token, "/notes.txt", b"version one")
    await put_file(live, token, "/notes.txt", b"version two, longer")
    await tab.sign_in()
    await tab.page.goto(live.meta_url + "/files/notes.txt")
    assert "version two" in await tab.page.locator(".text-preview").inner_text()
    versions = tab.page.locator(".versions tbody tr")
    assert await versions.count() == 2 and await versions.first.locator(".badge", has_text="current").count() == 1
    await tab.page.locator(f'tr[data-rev="{old["rev"]}"]').get_by_role("button", name="Restore version").click()
    await tab.page.locator(".text-preview", has_text="version one").wait_for()
    status, meta = await api_call(live, token, "GET", "/v1/files/meta", path="/notes.txt")
    assert meta["size"] == len(b"version one") and meta["rev"] > old["rev"]


async def test_download_a_file_and_a_folder(tab, live, tmp_path):
    import zipfile

    token = await live.login()
    await put_file(live, token, "/Pics/one.bin", b"1" * 100)
    await put_file(live, token, "/Pics/deeper/two.bin", b"2" * 200)
    await tab.sign_in()
    page = tab.page
    await page.goto(live.meta_url + "/files/Pics")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download one.bin").click()
    download = await info.value
    assert download.suggested_filename == "one.bin"
    assert (await download.path()).read_bytes() == b"1" * 100
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download folder (zip)").click()
    download = await info.value
    assert download.suggested_filename == "Pics.zip"
    with zipfile.ZipFile(await download.path()) as zf:
        assert zf.read("Pics/deeper/two.bin") == b"2" * 200
        assert zf.read("Pics/one.bin") == b"1" * 100


async def test_image_preview(tab, live):
    import base64

    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )
    token = await live.login()
    await put_file(live, token, "/dot.png", png)
    await tab.sign_in()
    await tab.page.goto(live.meta_url + "/files/dot.png")
    img = tab.page.get_by_role("img", name="Preview of dot.png")
    await img.wait_for()
    assert await img.evaluate("i => i.complete && i.naturalWidth") == 1


PDF = b"""%PDF-1.1
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj
4 0 obj<</Length 44>>stream
BT /F1 24 Tf 20 60 Td (Hello PDF) Tj ET
endstream endobj
5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj
trailer<</Root 1 0 R>>
"""


async def test_pdf_preview_opens_in_the_browsers_viewer(tab, live):
    token = await live.login()
    await put_file(live, token, "/doc.pdf", PDF)
    await tab.sign_in()
    async with tab.page.expect_response("**/raw/doc.pdf?rev=*") as info:
        await tab.page.goto(live.meta_url + "/files/doc.pdf")
    response = await info.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    viewer = None
    for _ in range(50):  # the built-in viewer is a frame of its own inside the preview's frame
        viewer = next((f for f in tab.page.frames if f.url.startswith("chrome-extension://")), None)
        if viewer:
            break
        await asyncio.sleep(0.1)
    assert viewer is not None, [f.url for f in tab.page.frames]


async def test_a_change_made_by_the_cli_appears_within_2_s(tab, live, tmp_path):
    cli = Tessera(tmp_path / "cli-config", tmp_path)
    await login(cli, live)
    (tmp_path / "from-cli.txt").write_text("hello from the terminal")
    await tab.sign_in()
    await asyncio.sleep(0.5)  # the page's long-poll is held
    run = await cli("put", str(tmp_path / "from-cli.txt"), "/")
    assert run.code == 0, run
    done = time.monotonic()
    await row(tab.page, "/from-cli.txt").wait_for(timeout=2000)
    assert time.monotonic() - done < 2.0


XSS_NAMES = [
    "<img src=x onerror=alert(1)>.txt",
    '"><script>alert(2)<script>.txt',
    "' onmouseover='alert(3)'.txt",
    "javascript:alert(4).txt",
    "{{7*7}} <svg onload=alert(5)>.txt",
]


async def test_file_names_that_look_like_markup_stay_text(tab, live):
    token = await live.login()
    for name in XSS_NAMES:
        await put_file(live, token, "/" + name, b"harmless")
    # a name cannot hold "/": this one makes a folder '"><script>alert(6)<' with 'script>.txt' in it
    await put_file(live, token, '/"><script>alert(6)</script>.txt', b"harmless")
    await tab.page.add_init_script("window.__xss = []; window.alert = (m) => window.__xss.push(m);")
    await tab.sign_in()
    page = tab.page
    for name in XSS_NAMES:
        link = page.get_by_role("link", name=name, exact=True)
        assert await link.count() == 1, name
    assert await page.locator("tbody img, tbody script, tbody svg:not(.icon)").count() == 0
    assert await page.get_by_role("link", name='"><script>alert(6)<', exact=True).count() == 1
    await page.get_by_role("link", name=XSS_NAMES[1], exact=True).click()  # the file's page too
    await page.locator("h1 .file-name").wait_for()
    assert await page.locator("h1 .file-name").inner_text() == XSS_NAMES[1]
    await page.fill("#search-q", "alert")  # and search results (text only, whatever the answer)
    await asyncio.sleep(0.5)
    assert await page.evaluate("window.__xss") == []
    assert tab.dialogs == []
    assert not [m for m in tab.console if "Content Security Policy" in m], tab.console


async def test_a_session_revoked_elsewhere_is_signed_out_at_once(tab, live):
    await tab.sign_in()
    await asyncio.sleep(0.5)  # the page's long-poll is held
    cli = await live.login(device="laptop")
    status, answer = await api_call(live, cli, "GET", "/v1/devices")
    browser_id = next(d["id"] for d in answer["devices"] if d["name"].startswith("web browser"))
    status, _ = await api_call(live, cli, "POST", "/v1/devices/revoke", {"id": browser_id})
    assert status == 200
    await tab.page.wait_for_url("**/login**", timeout=3000)  # no reload: the held poll hears it
    assert await tab.page.get_by_label("Password").count() == 1
    await tab.page.goto(live.meta_url + "/files/")
    await tab.page.wait_for_url("**/login**")


async def test_devices_page_lists_and_signs_out_devices(tab, live):
    cli = await live.login(device="work laptop <b>")
    await tab.sign_in()
    page = tab.page
    await page.get_by_role("link", name="Devices").click()
    await page.get_by_role("cell", name="work laptop <b>", exact=True).wait_for()
    assert await page.get_by_role("cell", name="web browser (Chrome) this browser", exact=True).count() == 1
    await page.get_by_role("button", name="Sign out work laptop <b>").click()
    await page.get_by_role("cell", name="work laptop <b>", exact=True).wait_for(state="detached")
    status, answer = await api_call(live, cli, "GET", "/v1/account")
    assert status == 401 and answer["error"]["code"] == "signed_out"


async def test_sign_out_revokes_the_token(tab, live):
    await tab.sign_in()
    async with live.pool.acquire() as conn:
        device = await conn.fetchval("SELECT device_name FROM tokens WHERE revoked_at IS NULL")
    assert device == "web browser (Chrome)"
    await tab.page.get_by_role("button", name="Sign out").click()
    await tab.page.wait_for_url(live.meta_url + "/login")  # the form's answer, not a detour of the page's poll
    async with live.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tokens WHERE revoked_at IS NULL") == 0
    await tab.page.goto(live.meta_url + "/files/")
    await tab.page.wait_for_url("**/login**")


async def test_keyboard_only_new_folder(tab, live):
    await tab.sign_in()
    page = tab.page
    await page.get_by_role("button", name="New folder").focus()
    await page.keyboard.press("Enter")
    await page.keyboard.type("Typed folder")  # the dialog's field has the focus
    await page.keyboard.press("Enter")
    await row(page, "/Typed folder").wait_for()
    await page.get_by_role("button", name="Rename Typed folder").focus()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Escape")  # closes the dialog, nothing changes
    assert not await page.locator("#dlg-rename").evaluate("d => d.open")
    await page.reload()
    for _ in range(3):  # the first Tab stops: skip link, home link, search
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "search-q"


async def test_phone_width_has_no_sideways_scrolling(browser, live):
    token = await live.login()
    await put_file(live, token, "/A rather long file name that goes on and on, as names do.txt", b"x" * 12345)
    context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = await context.new_page()
    await sign_in_page(page, live.meta_url)
    assert await page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    assert await page.get_by_role("button", name="Upload files").count() + await page.locator(
        'label[for="pick-files"]').count() >= 1  # fmt: skip
    await context.close()


async def test_sizes_and_times_in_the_browsers_locale(browser, live):
    token = await live.login()
    await put_file(live, token, "/zahlen.bin", b"x" * 48_213)
    context = await browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    page = await context.new_page()
    await sign_in_page(page, live.meta_url)
    cells = row(page, "/zahlen.bin").locator("td")
    assert await cells.nth(1).inner_text() == "47,1 KiB"
    when = await cells.nth(2).inner_text()
    assert "UTC" not in when and "." in when  # e.g. "06.12.2026, 18:07"
    await context.close()


async def test_an_open_folder_deleted_elsewhere_gives_way_to_its_parent(tab, live):
    token = await live.login()
    await put_file(live, token, "/Outer/Inner/x.txt", b"x")
    await tab.sign_in()
    await tab.page.goto(live.meta_url + "/files/Outer/Inner")
    await asyncio.sleep(0.5)
    await api_call(live, token, "POST", "/v1/files/delete", {"path": "/Outer/Inner"})
    await tab.page.wait_for_url(live.meta_url + "/files/Outer", timeout=3000)
    await tab.page.goto(live.meta_url + "/login")  # signed in: the form is skipped
    await tab.page.wait_for_url(live.meta_url + "/files/")


#: the controls of a page that have no accessible name (a label, text, aria-label or -labelledby)
UNLABELLED = """() => [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, progress, meter, iframe, [role=option]")]
    .filter((el) => {
        const named = (el.getAttribute("aria-label") || el.title || "").trim()
            || (el.getAttribute("aria-labelledby") || "").split(/\\s+/).some((id) => document.getElementById(id)?.textContent.trim())
            || [...(el.labels || [])].some((l) => l.textContent.trim());
        const text = ["A", "BUTTON"].includes(el.tagName) && el.textContent.trim();
        return !named && !text;
    }).map((el) => el.outerHTML.slice(0, 120))"""


async def test_every_control_has_a_label(tab, live):
    token = await live.login()
    await put_file(live, token, "/Docs/notes.txt", b"one")
    await put_file(live, token, "/Docs/notes.txt", b"two")
    await tab.sign_in()
    for where in ("/files/", "/files/Docs", "/files/Docs/notes.txt", "/trash", "/devices", "/account",
                  "/search?q=notes"):  # fmt: skip
        await tab.page.goto(live.meta_url + where)
        # a locator waits through Playwright's own engine: a string predicate would need eval, which the CSP refuses
        await tab.page.locator("main", has_text="Loading…").wait_for(state="detached")
        assert await tab.page.evaluate(UNLABELLED) == [], where
