"""The ``tessera`` CLI end to end, run as a real subprocess against the real servers."""

from __future__ import annotations

import asyncio
import os
import pty
import stat

from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import PASSWORD, USER, write_random

from .cli_run import login


async def test_cli_session(tessera, servers, tmp_path):
    r = await login(tessera, servers)
    assert f"as {USER}" in r.out
    creds = tessera.config_dir / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert PASSWORD not in creds.read_text()

    r = await tessera("whoami", "--json")
    assert r.code == 0, r
    assert r.json()["user"] == USER and r.json()["device"] == "cli-test"
    assert r.json()["server"] == servers.meta_url
    r = await tessera("whoami")
    assert r.code == 0 and USER in r.out and "cli-test" in r.out

    r = await tessera("mkdir", "/Docs/Sub", "--json")
    assert r.code == 0, r
    assert r.json() == {"kind": "folder", "path": "/Docs/Sub", "name": "Sub"}

    src = write_random(tessera.cwd / "report.bin", BLOCK_SIZE + 10, seed=11)
    r = await tessera("put", str(src), "/Docs", "--json")  # an existing folder: put inside it
    assert r.code == 0, r
    put = r.json()
    assert put["path"] == "/Docs/report.bin" and put["size"] == BLOCK_SIZE + 10
    assert put["blocks_sent"] == 2 and put["blocks_total"] == 2
    r = await tessera("put", str(src), "/Docs/Sub/")  # trailing slash: inside it
    assert r.code == 0, r
    assert "/Docs/Sub/report.bin" in r.out and "sent 0 of 2 blocks" in r.out
    r = await tessera("put", "report.bin", "/Docs/renamed.bin")  # relative local path, explicit name
    assert r.code == 0, r

    r = await tessera("ls", "/Docs")
    assert r.code == 0, r
    assert r.out.split() == ["renamed.bin", "report.bin", "Sub/"]
    r = await tessera("ls", "Docs", "-l")
    assert r.code == 0 and "4.0 MiB" in r.out and "Sub/" in r.out, r
    r = await tessera("ls", "--json")
    assert r.code == 0, r
    assert [e["path"] for e in r.json()["entries"]] == ["/Docs"]
    r = await tessera("ls", "/Docs/report.bin", "--json")  # a file lists as itself
    assert [e["name"] for e in r.json()["entries"]] == ["report.bin"]

    r = await tessera("info", "/Docs/report.bin", "--json")
    assert r.code == 0, r
    info = r.json()
    assert (
        info["kind"] == "file" and info["content_hash"] == put["content_hash"] and info["rev"] == put["rev"]
    )
    r = await tessera("info", "/Docs/report.bin")
    assert r.code == 0 and put["content_hash"] in r.out

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    r = await tessera("get", "/Docs/report.bin", str(downloads), "--json")  # into a directory
    assert r.code == 0, r
    assert r.json()["content_hash"] == put["content_hash"]
    assert (downloads / "report.bin").read_bytes() == src.read_bytes()
    r = await tessera("get", "/Docs/Sub/report.bin", str(downloads / "copy.bin"))
    assert r.code == 0, r
    assert (downloads / "copy.bin").read_bytes() == src.read_bytes()

    r = await tessera("mv", "/Docs/report.bin", "/Docs/Sub")  # into a folder that has one already
    r.assert_one_line_error("exists")
    assert r.code == 5
    assert (await tessera("mkdir", "/Archive")).code == 0
    r = await tessera("mv", "/Docs/report.bin", "/Archive", "--json")  # into an existing folder
    assert r.code == 0, r
    assert r.json()["path"] == "/Archive/report.bin"
    r = await tessera("mv", "/Docs/renamed.bin", "/Docs/final.bin")
    assert r.code == 0, r
    r = await tessera("mv", "/Docs/final.bin", "/Docs/FINAL.bin", "--json")  # case-only rename
    assert r.code == 0, r
    assert r.json()["path"] == "/Docs/FINAL.bin"
    r = await tessera("ls", "/Docs")
    assert r.out.split() == ["FINAL.bin", "Sub/"]

    r = await tessera("rm", "/Docs/Sub", "--json")
    assert r.code == 0, r
    assert r.json()["path"] == "/Docs/Sub"
    r = await tessera("info", "/Docs/Sub/report.bin")
    r.assert_one_line_error("not_found")
    assert r.code == 4

    r = await tessera("logout", "--json")
    assert r.code == 0, r
    assert r.json()["logged_out"] is True
    assert not creds.exists()
    r = await tessera("whoami")
    r.assert_one_line_error("not_logged_in")
    assert r.code == 3
    r = await tessera("logout")
    assert r.code == 0 and "Not logged in" in r.out


async def test_cli_bad_input(tessera, servers, tmp_path):
    r = await tessera(
        "login", "--server", servers.meta_url, "--user", USER, "--password-stdin", stdin=b"wrong password\n"
    )
    r.assert_one_line_error("unauthorized")
    assert r.code == 3
    assert not (tessera.config_dir / "credentials.json").exists()

    await login(tessera, servers)

    r = await tessera("put", str(tmp_path / "no-such-file"), "/x")
    r.assert_one_line_error("ENOENT")
    assert "no-such-file" in r.err

    r = await tessera("get", "/no/such/file", "out.bin")
    r.assert_one_line_error("not_found")
    assert r.code == 4
    assert list(tessera.cwd.iterdir()) == []

    for bad in ("/a/../b", "/a//b", "/a/./b"):
        r = await tessera("mkdir", bad)
        r.assert_one_line_error("bad_path")
        assert r.code == 2

    r = await tessera("get", "/a/../b", "out.bin", "--json")
    r.assert_one_line_error("bad_path")
    assert r.json()["error"]["code"] == "bad_path"  # --json: the error is a document too

    r = await tessera("mkdir", "/dup")
    assert r.code == 0
    r = await tessera("mkdir", "/dup")
    r.assert_one_line_error("exists")
    assert r.code == 5

    r = await tessera("put")
    r.assert_one_line_error("usage")
    assert r.code == 2
    r = await tessera("frobnicate")
    r.assert_one_line_error("usage")

    r = await tessera(
        "--server", "http://127.0.0.1:9", "--retries", "1", "whoami"
    )  # nothing listens on port 9
    r.assert_one_line_error("unavailable")
    assert "cannot connect" in r.err

    r = await tessera(
        "login", "--server", "ftp://example.com", "--user", USER, "--password-stdin", stdin=b"x\n"
    )
    r.assert_one_line_error("bad_server_url")


def _drain(fd: int) -> bytes:
    """Read a pty's master side until the other side is closed."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: no writer left
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_cli_progress_only_on_a_terminal(tessera, servers):
    await login(tessera, servers)
    write_random(tessera.cwd / "p.bin", 3 * BLOCK_SIZE, seed=12)

    r = await tessera("put", "p.bin", "/p.bin")  # stderr is a pipe: quiet
    assert r.code == 0 and r.err == "", r

    master, slave = pty.openpty()
    try:
        reader = asyncio.ensure_future(asyncio.to_thread(_drain, master))
        r = await tessera("get", "/p.bin", "p2.bin", stderr=slave)
        os.close(slave)
        slave = -1
        seen = (await asyncio.wait_for(reader, timeout=30)).decode(errors="replace")
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    assert r.code == 0, r
    assert "downloading p.bin" in seen
    assert "tessera: error" not in seen


async def test_cli_history_and_restore(tessera, servers):
    await login(tessera, servers)
    f = tessera.cwd / "notes.txt"
    revs = []
    for text in ("one\n", "two, longer\n"):
        f.write_text(text)
        r = await tessera("put", "notes.txt", "/notes.txt", "--json")
        assert r.code == 0, r
        revs.append(r.json()["rev"])

    r = await tessera("history", "/notes.txt")
    assert r.code == 0, r
    lines = r.out.strip().splitlines()
    assert lines[0] == "/notes.txt (2 versions)"
    assert lines[1].startswith("  version 2  ") and lines[1].endswith(f"cli-test  {USER}  (current)")
    assert lines[2].startswith("  version 1  ") and "(current)" not in lines[2]
    assert lines[3] == "Restore one with: tessera restore /notes.txt VERSION"

    r = await tessera("restore", "/notes.txt", "1", "--json")
    assert r.code == 0, r
    new_rev = r.json()["rev"]
    assert new_rev not in revs and r.json()["size"] == 4
    r = await tessera("get", "/notes.txt", "back.txt")
    assert r.code == 0 and (tessera.cwd / "back.txt").read_text() == "one\n", r
    r = await tessera("history", "notes.txt", "--json")
    assert [x["rev"] for x in r.json()["revisions"]] == [new_rev, *reversed(revs)]
    assert [x["version"] for x in r.json()["revisions"]] == [3, 2, 1]
    assert r.json()["rev"] == new_rev and r.json()["deleted"] is False

    r = await tessera("rm", "/notes.txt")
    assert r.code == 0, r
    r = await tessera("history", "/notes.txt")
    assert r.code == 0 and r.out.startswith("/notes.txt (deleted; 3 versions)") and "(current)" not in r.out, r
    r = await tessera("restore", "/notes.txt", "2")
    assert r.code == 0 and r.out.startswith("Restored /notes.txt to version 2 from the trash as version 4 "), r
    r = await tessera("restore", "/notes.txt", str(revs[0]), "--rev")
    assert r.code == 0 and r.out.startswith(f"Restored /notes.txt to rev {revs[0]} as version 5 "), r

    (await tessera("restore", "/notes.txt", "999999")).assert_one_line_error("not_found")
    (await tessera("history", "/nothing-here")).assert_one_line_error("not_found")
    r = await tessera("restore", "/notes.txt", "0")
    assert r.code == 2 and "Traceback" not in r.err  # click's usage error


async def test_cli_rm_if_rev(tessera, servers):
    await login(tessera, servers)
    (tessera.cwd / "a.txt").write_text("a")
    rev = (await tessera("put", "a.txt", "/a.txt", "--json")).json()["rev"]
    (await tessera("rm", "/a.txt", "--if-rev", str(rev + 1000))).assert_one_line_error("conflict")
    r = await tessera("rm", "/a.txt", "--if-rev", str(rev))
    assert r.code == 0 and "Deleted /a.txt" in r.out, r
