"""The trash across devices: what one device's daemon deletes, the CLI lists with that device's
name and brings back, and every device's daemon gets it back (a folder as it was; a file whose
name was taken since, beside the new one)."""

from __future__ import annotations

import asyncio
import shutil

from tests.client.cli.cli_run import Tessera, login
from tests.client.sync.sync_harness import fleet_fixture  # noqa: F401


async def test_a_folder_deleted_on_one_device_comes_back_on_every_device(fleet, servers, tmp_path):
    laptop = await fleet.add("laptop")
    phone = await fleet.add("phone")
    await laptop.write("Projects/plan.txt", b"the plan")
    await laptop.write("Projects/src/main.py", b"print('hello')\n")
    await laptop.write("notes.txt", b"old notes")
    before = await fleet.converged()
    assert before["Projects/src/main.py"] is not None

    await asyncio.to_thread(shutil.rmtree, laptop.path("Projects"))
    await asyncio.to_thread(phone.path("notes.txt").unlink)
    gone = await fleet.converged()
    assert "Projects" not in gone and "notes.txt" not in gone

    cli = Tessera(tmp_path / "cli-config", tmp_path)
    await login(cli, servers)
    r = await cli("trash", "ls", "--json")
    assert r.code == 0, r
    assert {(e["path"], e["device"]) for e in r.json()["entries"]} == {("/Projects", "laptop"), ("/notes.txt", "phone")}

    r = await cli("trash", "restore", "/Projects")
    assert r.code == 0, r
    back = await fleet.converged()
    assert {k: v for k, v in back.items() if k.startswith("Projects")} == {
        k: v for k, v in before.items() if k.startswith("Projects")
    }
    assert await phone.read("Projects/src/main.py") == b"print('hello')\n"

    await laptop.write("notes.txt", b"new notes")  # the name is taken again
    await fleet.converged()
    r = await cli("trash", "restore", "/notes.txt", "--json")
    assert r.code == 0, r
    beside = r.json()["path"].lstrip("/")
    assert beside.startswith("notes (deleted ") and beside.endswith(").txt")
    final = await fleet.converged()
    assert beside in final
    assert await phone.read(beside) == b"old notes" and await laptop.read(beside) == b"old notes"
    assert await phone.read("notes.txt") == b"new notes"
