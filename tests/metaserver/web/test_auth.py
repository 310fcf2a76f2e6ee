"""Login, tokens, revocation, account."""

import aiohttp

from protocol import codec


async def test_login_gives_working_token(api):
    acct = await api.ok("GET", "/v1/account")
    assert acct["user"] == "alice" and acct["device"] == "laptop"
    assert acct["used_bytes"] == 0 and acct["quota_bytes"] is None


async def test_login_is_case_insensitive_on_user_name(meta, api):
    answer = await meta.ok("POST", "/v1/auth/login", {"user": "ALICE", "password": "pw-alice", "device": "d"})
    assert answer["user"] == "alice"


async def test_wrong_password_and_unknown_user_answer_the_same(meta, api):
    for body in ({"user": "alice", "password": "nope"}, {"user": "nobody", "password": "pw-alice"}):
        status, code = await meta.error("POST", "/v1/auth/login", body, token="")
        assert (status, code) == (401, "unauthorized")


async def test_missing_malformed_and_unknown_token(api):
    for tok in ("", "garbage-token"):
        status, answer = await api.call("GET", "/v1/account", token=tok)
        assert status == 401 and answer["error"]["code"] == "unauthorized"
    async with api.session.get(api.url + "/v1/account", headers={"Authorization": "Basic abc"}) as r:
        assert r.status == 401


async def test_logout_revokes_only_that_token(meta, api):
    other = await meta.ok("POST", "/v1/auth/login", {"user": "alice", "password": "pw-alice", "device": "phone"})
    await api.ok("POST", "/v1/auth/logout", {})
    status, answer = await api.call("GET", "/v1/account")
    assert status == 401 and answer["error"]["code"] == "signed_out", answer
    assert "logged out" in answer["error"]["message"]
    status, _ = await api.call("GET", "/v1/account", token=other["token"])
    assert status == 200


async def test_token_is_stored_only_as_hash(api, pool):
    rows = await pool.fetch("SELECT token_hash FROM tokens")
    assert rows and all(api.token.encode() not in bytes(r["token_hash"]) for r in rows)


async def test_json_requests_get_json_answers(api):
    async with api.session.post(
        api.url + "/v1/files/mkdir",
        json={"path": "/j"},
        headers={"Authorization": f"Bearer {api.token}"},
    ) as r:
        assert r.status == 200 and r.content_type == codec.JSON
        assert (await r.json())["path"] == "/j"


async def test_malformed_bodies(api):
    headers = {"Authorization": f"Bearer {api.token}"}
    cases = [
        (codec.MSGPACK, b"\xc1\xc1\xc1", 400, "bad_request"),
        (codec.JSON, b"{not json", 400, "bad_request"),
        ("text/plain", b"path=/x", 415, "unsupported_media_type"),
    ]
    for ctype, data, status, code in cases:
        async with api.session.post(
            api.url + "/v1/files/mkdir", data=data, headers={**headers, "Content-Type": ctype, "Accept": codec.JSON}
        ) as r:
            assert r.status == status, await r.text()
            assert (await r.json())["error"]["code"] == code
    status, code = await api.error("POST", "/v1/files/mkdir", ["not", "an", "object"])
    assert (status, code) == (400, "bad_request")


async def test_health_and_unknown_endpoint(meta):
    async with aiohttp.ClientSession() as s:
        async with s.get(meta.url + "/v1/health", headers={"Accept": codec.JSON}) as r:
            assert r.status == 200 and (await r.json())["ok"] is True
        async with s.get(meta.url + "/v1/nope", headers={"Accept": codec.JSON}) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_passwords_are_hashed_in_one_thread_one_at_a_time(meta, api, monkeypatch):
    """Each hash takes 19 MiB that the C allocator keeps in the hashing thread's arena: one
    thread for all of them bounds that to one buffer (the server grew by 16 MiB per login)."""
    import asyncio
    import threading
    import time

    from metaserver.core import passwords

    threads: set[int] = set()
    running = 0
    most = 0
    real = passwords._verify

    def watched(password, stored):
        nonlocal running, most
        threads.add(threading.get_ident())
        running += 1
        most = max(most, running)
        try:
            time.sleep(0.01)  # overlapping calls would be seen
            return real(password, stored)
        finally:
            running -= 1

    monkeypatch.setattr(passwords, "_verify", watched)
    logins = [{"user": "alice", "password": "pw-alice", "device": f"d{i}"} for i in range(4)]
    answers = await asyncio.gather(*(meta.ok("POST", "/v1/auth/login", body) for body in logins))
    assert all(a["user"] == "alice" for a in answers)
    assert await passwords.verify_password("pw-alice", await passwords.hash_password("pw-alice"))
    assert len(threads) == 1 and most == 1
