"""``tessera search`` end to end, a real subprocess against the real servers."""

from __future__ import annotations

import re

from .cli_run import login


async def test_cli_search(tessera, servers):
    await login(tessera, servers)
    (tessera.cwd / "cv.txt").write_text("curriculum vitae\n")
    for remote in ("/Jobs/Résumé 2026.txt", "/Jobs/old/resume (old).txt", "/resume notes.txt"):
        r = await tessera("put", "cv.txt", remote)
        assert r.code == 0, r
    for folder in ("/Resumes", "/Archive/Resume"):
        assert (await tessera("mkdir", folder)).code == 0
    assert (await tessera("rm", "/resume notes.txt")).code == 0

    r = await tessera("search", "RESUME")
    assert r.code == 0, r
    lines = r.out.strip().splitlines()
    assert [line.split("  ")[-1] for line in lines] == [
        "/Archive/Resume/", "/Resumes/", "/Jobs/Résumé 2026.txt", "/Jobs/old/resume (old).txt",
    ]  # fmt: skip
    assert lines[2].lstrip().startswith("17 B")

    r = await tessera("search", "resume", "--json", "--type", "file", "--path", "Jobs", "--limit", "1")
    assert r.code == 0, r
    doc = r.json()
    assert doc["has_more"] is True and doc["query"] == "resume"
    [match] = doc["matches"]
    assert match["path"] == "/Jobs/Résumé 2026.txt" and match["match"] == "prefix" and match["size"] == 17

    r = await tessera("search", "resume", "--deleted", "--limit", "3")
    assert r.code == 0, r
    assert "(the best 3 shown" in r.out
    r = await tessera("search", "notes", "--deleted")
    assert r.code == 0 and re.search(r"/resume notes\.txt  \(deleted, id \d+\)$", r.out.strip()), r
    r = await tessera("search", "zebra")
    assert r.code == 0 and r.out.strip() == "No matches.", r

    (await tessera("search", "   ")).assert_one_line_error("bad_request")
    (await tessera("search", "x", "--path", "/a/../b")).assert_one_line_error("bad_path")
    r = await tessera("search", "x" * 300)
    assert r.code == 2 and "Traceback" not in r.err
    r = await tessera("search", "x", "--type", "link")
    assert r.code == 2 and "Traceback" not in r.err
