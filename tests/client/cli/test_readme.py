"""The README's quick tour, typed as written (what needs a person or runs until Ctrl-C aside)."""

from __future__ import annotations

import shlex

from tests.client.cli.cli_run import REPO, Tessera
from tests.client.conftest import PASSWORD, USER, write_random

#: the tour's lines the test does itself or leaves out: the shell, the user's creation (asks for a
#: password twice), the password change (asks for two), the daemon (runs until Ctrl-C) and its status
NOT_RUN = ("source ", "tessera-server user add ", "tessera passwd", "tessera sync ", "tessera status")


def tour() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## Quick tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


async def test_the_quick_tour_works_as_written(servers, tmp_path):
    await servers.add_user(USER, PASSWORD)
    await servers.add_user("bob", "pw-bob-long")  # whom the tour invites to a shared folder
    home = tmp_path / "home"
    (home / "Videos").mkdir(parents=True)
    write_random(home / "Videos" / "holiday.mp4", 5 * 1024 * 1024, seed=3)
    work = tmp_path / "work"
    work.mkdir()
    tessera = Tessera(tmp_path / "config", work)
    tessera.env["HOME"] = str(home)
    ran = []
    for line in tour():
        if line.startswith(NOT_RUN):
            continue
        words = shlex.split(line)
        assert words[0] == "tessera", line
        args = [str(home) + a[1:] if a.startswith("~/") else a for a in words[1:]]  # as the shell expands ~
        stdin = None
        if args[0] == "login":
            args = [servers.meta_url if a == "http://127.0.0.1:8080" else a for a in args] + ["--password-stdin"]
            stdin = f"{PASSWORD}\n".encode()
        r = await tessera(*args, stdin=stdin)
        assert r.code == 0, (line, r)
        ran.append(args[0])
    assert ran[-1] == "logout" and {"restore", "history", "trash", "usage", "rm", "mv", "share"} <= set(ran)
    assert (work / "copy.mp4").read_bytes() == (home / "Videos" / "holiday.mp4").read_bytes()
