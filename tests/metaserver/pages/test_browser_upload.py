"""Uploads in a real browser, by the page's own controls: blocks hashed in the page (WebCrypto,
SparkMD5) and PUT straight to the block server, which verifies them."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.metaserver.pages.conftest import api_call, sign_in_page

pytestmark = pytest.mark.asyncio(loop_scope="session")
MiB = 1024 * 1024


async def _meta(live, token: str, path: str) -> dict:
    status, meta = await api_call(live, token, "GET", "/v1/files/meta", path=path)
    assert status == 200, meta
    return meta


def _content_hash(data: bytes) -> str:
    """The file's content hash as the server computes it (SHA-256 over the blocks' SHA-256s)."""
    outer = hashlib.sha256()
    for i in range(0, len(data), 4 * MiB):
        outer.update(hashlib.sha256(data[i : i + 4 * MiB]).digest())
    return outer.hexdigest()


async def _wait_done(page) -> None:
    await page.wait_for_selector('#uploads[data-state="done"]', timeout=120_000)


@pytest.mark.slow
async def test_upload_a_50_mib_file_by_the_picker(tab, live, tmp_path):
    data = os.urandom(50 * MiB)
    src = tmp_path / "big video.bin"
    src.write_bytes(data)
    await tab.sign_in()
    parts = []
    tab.page.on("request", lambda r: parts.append(r.url) if r.method == "POST" and r.url.endswith("/blocks") else None)
    await tab.page.set_input_files("#pick-files", str(src))
    await _wait_done(tab.page)
    await tab.page.locator('tr[data-path="/big video.bin"]').wait_for()
    assert len(parts) == 1  # 13 blocks: the session opened with the first 8, the other 5 listed while sending
    meta = await _meta(live, await live.login(), "/big video.bin")
    assert meta["size"] == len(data) and meta["content_hash"] == _content_hash(data)
    total = await tab.page.locator("#upload-total").evaluate("p => [p.value, p.max]")
    assert total == [len(data), len(data)]
    mine = tab.page.get_by_label("Progress of /big video.bin")  # the file's own bar
    assert await mine.evaluate("p => [p.value, p.max]") == [len(data), len(data)]


async def test_upload_a_folder_of_100_files_by_the_folder_picker(tab, live, tmp_path):
    folder = tmp_path / "Holiday"
    (folder / "day two").mkdir(parents=True)
    contents = {}
    for i in range(100):
        rel = f"day two/f{i:03}.txt" if i % 2 else f"f{i:03}.txt"
        contents[rel] = f"file {i} ".encode() * (i + 1)
        (folder / rel).write_bytes(contents[rel])
    await tab.sign_in()
    calls: list[str] = []
    tab.page.on("request", lambda r: calls.append(r.url.split("/v1/", 1)[-1]) if r.method == "POST" else None)
    await tab.page.set_input_files("#pick-folder", str(folder))
    await _wait_done(tab.page)
    # small files travel in batches: a few requests open and commit all 100
    assert "uploads" not in calls and 2 <= calls.count("uploads/batch") <= 4
    assert calls.count("uploads/batch") == calls.count("uploads/commit_batch")
    bars = await tab.page.locator("#upload-list progress").evaluate_all("ps => ps.map(p => p.value === p.max)")
    assert bars == [True] * 100  # a bar a file, each full
    assert (await tab.page.locator("#upload-total-text").inner_text()).endswith("· 100 of 100 files")
    token = await live.login()
    status, listing = await api_call(live, token, "GET", "/v1/files/list", path="/Holiday/day two", limit=2000)
    assert status == 200 and len(listing["entries"]) == 50
    for rel in ("f000.txt", "day two/f099.txt"):
        assert (await _meta(live, token, "/Holiday/" + rel))["size"] == len(contents[rel])
    await tab.page.locator('tr[data-path="/Holiday"]').wait_for()


async def test_upload_by_drag_and_drop(tab, live):
    await tab.sign_in()
    page = tab.page
    transfer = await page.evaluate_handle(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["dropped one"], "drop-1.txt", {type: "text/plain"}));
            dt.items.add(new File([new Uint8Array(5 * 1024 * 1024)], "drop-2.bin"));
            return dt;
        }"""
    )
    await page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    assert await page.locator("#dropzone.dragging").count() == 1
    await page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    await _wait_done(page)
    token = await live.login()
    assert (await _meta(live, token, "/drop-1.txt"))["size"] == len("dropped one")
    assert (await _meta(live, token, "/drop-2.bin"))["content_hash"] == _content_hash(bytes(5 * MiB))


#: a folder dropped on the page, as Chrome hands it over: entries (FileSystemDirectoryEntry), whose
#: reader answers a batch of at most 100 children a call (a synthetic drop cannot carry a folder)
DROP_A_FOLDER = """() => {
    const file = (name, text) => ({ isFile: true, isDirectory: false, name,
                                    file: (ok) => ok(new File([text], name)) });
    const folder = (name, children) => ({ isFile: false, isDirectory: true, name, createReader() {
        let at = 0;
        return { readEntries(ok) { const batch = children.slice(at, at + 100); at += batch.length; setTimeout(() => ok(batch)); } };
    } });
    const many = Array.from({ length: 130 }, (_, i) => file(`p${String(i).padStart(3, "0")}.txt`, "photo " + i));
    const album = folder("Album", [...many, folder("Raw", [file("deep.txt", "deep down")]), folder("Empty", [])]);
    const ev = new Event("drop", { bubbles: true, cancelable: true });
    const dt = { items: [{ kind: "file", webkitGetAsEntry: () => album },
                         { kind: "file", webkitGetAsEntry: () => file("loose.txt", "beside it") }], files: [] };
    Object.defineProperty(ev, "dataTransfer", { value: dt });
    document.getElementById("dropzone").dispatchEvent(ev);
}"""


async def test_a_dropped_folder_uploads_with_everything_in_it(tab, live):
    await tab.sign_in()
    await tab.page.evaluate(DROP_A_FOLDER)
    await _wait_done(tab.page)
    assert await tab.page.locator("#upload-list li").count() == 132
    token = await live.login()
    status, listing = await api_call(live, token, "GET", "/v1/files/list", path="/Album", limit=2000)
    names = {e["name"] for e in listing["entries"]}
    assert status == 200 and len(names) == 132 and {"p000.txt", "p129.txt", "Raw", "Empty"} <= names
    assert (await _meta(live, token, "/Album/Empty"))["kind"] == "folder"  # an empty folder comes too
    assert (await _meta(live, token, "/Album/Raw/deep.txt"))["size"] == len("deep down")
    assert (await _meta(live, token, "/loose.txt"))["size"] == len("beside it")
    await tab.page.locator('tr[data-path="/Album"]').wait_for()


async def test_a_dropped_connection_is_retried(tab, live, tmp_path):
    data = os.urandom(9 * MiB)  # 3 blocks
    src = tmp_path / "flaky.bin"
    src.write_bytes(data)
    cut = []

    async def drop_first_put_of_each_block(route):
        url = route.request.url
        if route.request.method == "PUT" and url not in cut:
            cut.append(url)
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await tab.sign_in()
    await tab.page.route(f"{live.block_url}/v1/blocks/**", drop_first_put_of_each_block)
    await tab.page.set_input_files("#pick-files", str(src))
    await _wait_done(tab.page)
    assert len(cut) == 3
    assert (await _meta(live, await live.login(), "/flaky.bin"))["content_hash"] == _content_hash(data)


async def test_an_upload_cut_short_resumes_after_a_reload_with_only_the_missing_blocks(tab, live, tmp_path):
    data = os.urandom(10 * 4 * MiB)  # 10 blocks: the list goes in two parts (8 + 2)
    src = tmp_path / "resumable.bin"
    src.write_bytes(data)
    puts: list[str] = []
    link = {"cut_after": 2}  # PUTs that get through before the connection goes (None: never)

    async def count_or_cut(route):
        if route.request.method != "PUT":
            await route.continue_()
        elif link["cut_after"] is not None and len(puts) >= link["cut_after"]:
            await route.abort("internetdisconnected")  # the connection is gone: nothing gets through
        else:
            puts.append(route.request.url)
            await route.continue_()

    await tab.sign_in()
    page = tab.page
    await page.route(f"{live.block_url}/v1/blocks/**", count_or_cut)
    await page.set_input_files("#pick-files", str(src))
    await page.locator("#upload-list .state", has_text="retrying").wait_for(timeout=30_000)
    assert await page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('tessera-upload:')).length") == 1
    await page.reload()
    stored_before = len(puts)
    link["cut_after"] = None
    puts.clear()
    await page.set_input_files("#pick-files", str(src))  # the user picks the same file again
    await _wait_done(page)
    assert len(puts) == 10 - stored_before  # only what the server still needed
    assert (await _meta(live, await live.login(), "/resumable.bin"))["content_hash"] == _content_hash(data)
    assert await page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('tessera-upload:')).length") == 0


async def test_uploads_pass_over_a_dead_block_server(browser, server_config, database_url, tmp_path):
    from metaserver.core import db
    from tests.metaserver.pages.conftest import start_web_servers

    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    servers = await start_web_servers(server_config, pool, block_urls=lambda real: ("http://127.0.0.1:9", real))
    context = await browser.new_context()
    try:
        await servers.add_user()
        data = os.urandom(4 * 4 * MiB)
        (tmp_path / "four.bin").write_bytes(data)
        page = await context.new_page()
        await sign_in_page(page, servers.meta_url)
        await page.set_input_files("#pick-files", str(tmp_path / "four.bin"))
        await _wait_done(page)
        assert (await _meta(servers, await servers.login(), "/four.bin"))["content_hash"] == _content_hash(data)
    finally:
        await context.close()
        await servers.stop()
        await pool.close()
