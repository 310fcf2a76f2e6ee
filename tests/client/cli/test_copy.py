"""``tessera cp``, run as the real CLI against the real servers: a file, a folder, into a folder,
--json, and one-line errors."""

from __future__ import annotations

from tests.client.conftest import PASSWORD, USER

from .cli_run import Tessera, login


async def test_cp_copies_on_the_server(servers, tmp_path):
    await servers.add_user(USER, PASSWORD)
    t = Tessera(tmp_path / "cfg", tmp_path)
    await login(t, servers)
    (tmp_path / "a.txt").write_bytes(b"alpha\n" * 1000)
    assert (await t("put", "a.txt", "/Docs/a.txt")).code == 0
    assert (await t("mkdir", "/Archive")).code == 0
    blocks = await servers.pool.fetchval("SELECT count(*) FROM blocks")

    r = await t("cp", "/Docs/a.txt", "/Docs/b.txt")
    assert r.code == 0 and "Copied /Docs/a.txt to /Docs/b.txt" in r.out, r
    r = await t("cp", "/Docs", "/Archive", "--json")  # an existing folder: into it
    assert r.code == 0 and r.json()["path"] == "/Archive/Docs", r
    assert (await t("get", "/Archive/Docs/b.txt", str(tmp_path / "got.txt"))).code == 0
    assert (tmp_path / "got.txt").read_bytes() == b"alpha\n" * 1000
    assert await servers.pool.fetchval("SELECT count(*) FROM blocks") == blocks  # nothing uploaded again

    (await t("cp", "/Docs/a.txt", "/Docs/b.txt")).assert_one_line_error("exists")
    (await t("cp", "/nothing", "/x")).assert_one_line_error("not_found")
    (await t("cp", "/Docs", "/Docs/inner")).assert_one_line_error("bad_path")
