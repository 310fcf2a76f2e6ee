"""``tessera devices``, ``tessera devices revoke``, ``tessera passwd`` and being signed out,
run as a real subprocess against the real servers."""

from __future__ import annotations

import pytest

from tests.client.conftest import PASSWORD, USER

from .cli_run import Tessera


@pytest.fixture
async def two(servers, tmp_path) -> tuple[Tessera, Tessera]:
    """Two devices of one user, each with its own config folder, both logged in."""
    await servers.add_user(USER, PASSWORD)
    devices = []
    for name in ("laptop", "phone"):
        work = tmp_path / name
        work.mkdir()
        t = Tessera(tmp_path / f"config-{name}", work)
        r = await t("login", "--server", servers.meta_url, "--user", USER, "--password-stdin",
                    "--device", name, stdin=f"{PASSWORD}\n".encode())  # fmt: skip
        assert r.code == 0, r
        devices.append(t)
    return devices[0], devices[1]


async def test_devices_lists_and_revokes(two):
    laptop, phone = two
    r = await laptop("devices", "--json")
    assert r.code == 0, r
    listed = r.json()["devices"]
    assert [(d["name"], d["current"]) for d in listed] == [("laptop", True), ("phone", False)]
    r = await laptop("devices")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "CREATED", "LAST", "USED"]
    assert lines[1].split()[1] == "laptop" and lines[1].endswith("(this device)")
    assert lines[2].split()[1] == "phone" and not lines[2].endswith("(this device)")

    phone_id = str(listed[1]["id"])
    r = await laptop("devices", "revoke", str(listed[0]["id"]))
    r.assert_one_line_error("usage")
    assert "tessera logout" in r.err
    r = await laptop("devices", "revoke", phone_id)
    assert r.code == 0 and r.out.strip() == f"Signed out device {phone_id} (phone).", r
    r = await phone("whoami")
    r.assert_one_line_error("signed_out")
    assert "signed out from another device" in r.err and "run `tessera login`" in r.err
    assert r.code == 3
    r = await laptop("devices", "revoke", phone_id)
    r.assert_one_line_error("not_found")


async def test_a_token_unused_for_too_long_is_signed_out(two, servers):
    laptop, _ = two
    await servers.pool.execute("UPDATE tokens SET last_used_at = now() - interval '100 days'")
    r = await laptop("ls", "/")
    r.assert_one_line_error("signed_out")
    assert "not used for 90 days" in r.err and "run `tessera login`" in r.err


async def test_a_deleted_token_reads_signed_out_too(two, servers):
    laptop, _ = two
    await servers.pool.execute("DELETE FROM tokens")
    r = await laptop("whoami")
    r.assert_one_line_error("signed_out")
    assert "run `tessera login`" in r.err


async def test_passwd(two, servers):
    laptop, phone = two
    r = await laptop("passwd", "--password-stdin", stdin=b"wrong-password\nnew-password-1\n")
    r.assert_one_line_error("forbidden")
    assert "old password is wrong" in r.err
    r = await laptop("passwd", "--password-stdin", stdin=f"{PASSWORD}\nshort\n".encode())
    r.assert_one_line_error("password_too_short")
    assert "at least 8 characters" in r.err
    r = await laptop("passwd", "--password-stdin", stdin=f"{PASSWORD}\nnew-password-1\n".encode())
    assert r.code == 0 and r.out.strip() == "Password changed.", r
    assert (await phone("whoami")).code == 0
    r = await laptop("passwd", "--password-stdin", "--sign-out-others", "--json",
                     stdin=b"new-password-1\nnew-password-2\n")  # fmt: skip
    assert r.code == 0 and r.json() == {"changed": True, "signed_out": 1}, r
    (await phone("whoami")).assert_one_line_error("signed_out")
    assert (await laptop("whoami")).code == 0
    r = await phone("login", "--server", servers.meta_url, "--user", USER, "--password-stdin",
                    stdin=b"new-password-2\n")  # fmt: skip
    assert r.code == 0, r
