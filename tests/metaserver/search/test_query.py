"""metaserver/search/query.py over several namespaces (the shared folders to come), and the folded
names every writer of ``entries`` must keep."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from metaserver.core.users import create_user
from metaserver.search import query
from metaserver.search.cursor import START
from metaserver.search.scope import Mount, scopes, visible_mounts
from metaserver.tree import ops
from metaserver.tree.journal import Author, Journal
from protocol import paths
from protocol.search import fold
from tests.metaserver.conftest import mark_stored
from tests.metaserver.uploads.test_batch import file_req
from tests.metaserver.uploads.test_sessions import upload

ROOT = Path(__file__).resolve().parents[3]


async def namespace(pool, owner: str, kind: str, folders: list[str]) -> int:
    """A namespace of ``owner`` holding ``folders`` (made as mkdir makes them)."""
    async with pool.acquire() as conn, conn.transaction():
        user_id = await conn.fetchval("SELECT id FROM users WHERE name = $1", owner)
        if user_id is None:
            user_id = await create_user(conn, owner, "password-1")
        if kind == "home":
            ns = await conn.fetchval("SELECT id FROM namespaces WHERE owner_id = $1 AND kind = 'home'", user_id)
        else:
            ns = await conn.fetchval("INSERT INTO namespaces (owner_id, kind) VALUES ($1, $2) RETURNING id", user_id, kind)
        j = await Journal.begin(conn, ns, Author(user_id, "test-device"))
        for f in folders:
            await ops.mkdir(j, f)
        await j.flush()
    return ns


async def run(pool, mounts: list[Mount], q: str, under: str = "/", **kw) -> list[str]:
    async with pool.acquire() as conn, conn.transaction():
        rows = await query.page(conn, scopes(mounts, under), fold(q), kind=kw.get("kind"),
                                deleted=kw.get("deleted", False), after=START, limit=100)  # fmt: skip
    return [query.match(r).path for r in rows]


async def test_a_search_covers_each_mount_at_its_place_in_the_tree_and_nothing_else(pool):
    home = await namespace(pool, "alice", "home", ["/Docs/Plans", "/Team"])
    team = await namespace(pool, "alice", "shared", ["/Plans 2026", "/Docs/plans (old)"])
    other = await namespace(pool, "bob", "home", ["/Plans of bob"])
    mounts = [Mount(home, "/"), Mount(team, "/Team")]
    assert await run(pool, mounts, "plans") == ["/Docs/Plans", "/Team/Plans 2026", "/Team/Docs/plans (old)"]
    assert await run(pool, mounts, "plans", "/team") == ["/Team/Plans 2026", "/Team/Docs/plans (old)"]
    assert await run(pool, mounts, "plans", "/Team/Docs") == ["/Team/Docs/plans (old)"]
    assert await run(pool, mounts, "plans", "/Docs") == ["/Docs/Plans"]
    assert await run(pool, mounts, "docs") == ["/Docs", "/Team/Docs"]
    assert await run(pool, [Mount(team, "/Team")], "plans") == ["/Team/Plans 2026", "/Team/Docs/plans (old)"]
    assert await run(pool, [Mount(other, "/")], "plans") == ["/Plans of bob"]
    assert await run(pool, visible_mounts(home), "plans") == ["/Docs/Plans"]  # today: the home only


async def test_every_writer_keeps_the_folded_name(api, pool):
    """mkdir, single and batch commits, moves (also of a folder, also case-only), restore, delete
    (to the trash) and restore from the trash all leave every row's name_fold, in entries and in
    the trash, equal to the fold of its name."""
    await api.ok("POST", "/v1/files/mkdir", {"path": "/Café/Ünïcode Ørsted"})
    first = await upload(api, pool, "/Café/Straße.TXT", b"one")
    await upload(api, pool, "/Café/Straße.TXT", b"two")
    files = {f"/Bätch/Fïle {i}.md": f"{i}".encode() for i in range(5)}
    created = await api.ok("POST", "/v1/uploads/batch", {"files": [file_req(p, d) for p, d in files.items()]})
    await mark_stored(pool, [b["block_id"] for s in created["uploads"] for b in s["blocks"]])
    await api.ok("POST", "/v1/uploads/commit_batch", {"upload_ids": [s["upload_id"] for s in created["uploads"]]})
    await api.ok("POST", "/v1/files/move", {"from": "/Bätch", "to": "/Élan/Bätch Møved"})
    await api.ok("POST", "/v1/files/move", {"from": "/Café/Straße.TXT", "to": "/Café/STRASSE.txt"})
    await api.ok("POST", "/v1/files/move", {"from": "/Café", "to": "/CAFÉ"})  # case only
    await api.ok("POST", "/v1/files/restore", {"path": "/Café/STRASSE.txt", "rev": first["rev"]})
    await api.ok("POST", "/v1/files/delete", {"path": "/Élan/Bätch Møved/Fïle 3.md"})
    await api.ok("POST", "/v1/files/mkdir", {"path": "/Ægir/Ødin"})
    await api.ok("POST", "/v1/files/delete", {"path": "/Ægir"})
    await api.ok("POST", "/v1/files/delete", {"path": "/Élan/Bätch Møved/Fïle 4.md"})
    await api.ok("POST", "/v1/trash/restore", {"path": "/Élan/Bätch Møved/Fïle 4.md"})
    rows = await pool.fetch("SELECT path, name_fold FROM entries UNION ALL SELECT path, name_fold FROM trash")
    assert len(rows) == 12  # 9 live, 3 in the trash
    assert {"aegir", "odin", "file 3.md"} <= {r["name_fold"] for r in await pool.fetch("SELECT name_fold FROM trash")}
    wrong = [(r["path"], r["name_fold"]) for r in rows if r["name_fold"] != fold(paths.basename(r["path"]))]
    assert wrong == []
    assert {"cafe", "strasse.txt", "elan", "batch moved", "file 3.md", "unicode orsted"} <= {r["name_fold"] for r in rows}


def _sql_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def forgotten_folds(sql: str) -> list[str]:
    """What a statement writing ``entries`` or ``trash`` leaves out of ``name_fold``: the column of
    an INSERT, or its update where the statement updates ``path`` (an UPDATE, or an upsert's DO
    UPDATE, also on its own, like ops._UPSERT)."""
    missing = []
    insert = re.search(r"\bINSERT\s+INTO\s+(?:entries|trash)\s*\(([^)]*)\)", sql, re.I)
    if insert and "name_fold" not in insert.group(1):
        missing.append("INSERT column")
    update = re.search(r"\b(?:UPDATE\s+(?:entries|trash)\b|DO\s+UPDATE\b)(.*)", sql, re.I | re.S)
    # a path given a new parent only (``path = $3 || path``: a whole tree moved under a folder) keeps its name
    moved_under = update and re.search(r"\bpath\s*=\s*\$\d+\s*\|\|\s*path\b", update.group(1))
    if update and re.search(r"\bpath\s*=", update.group(1)) and not re.search(r"\bname_fold\s*=", update.group(1)):
        if not moved_under:
            missing.append("UPDATE of path")
    return missing


def test_every_statement_that_writes_a_name_into_entries_or_the_trash_writes_its_fold():
    """A writer of ``entries`` or ``trash`` that forgets ``name_fold`` would leave a name search cannot find
    (or finds by its old name): the column is NOT NULL, which catches an INSERT; this also
    catches an UPDATE of the path."""
    writers = {}
    for path in sorted((ROOT / "metaserver").rglob("*.py")):
        for sql in _sql_strings(path):
            if re.search(r"\b(INSERT\s+INTO|UPDATE)\s+(entries|trash)\b|\bDO\s+UPDATE\b", sql, re.I):
                writers[(str(path.relative_to(ROOT)), sql)] = forgotten_folds(sql)
    assert len(writers) >= 4, "the writers were not found: has the SQL moved?"
    assert any("INSERT INTO trash" in sql for _, sql in writers), "trash.put was not found"
    assert {w: m for w, m in writers.items() if m} == {}
    # the check itself: what it must refuse
    assert forgotten_folds("INSERT INTO entries (ns_id, path) VALUES ($1, $2)") == ["INSERT column"]
    assert forgotten_folds("UPDATE entries SET path = $2, name_fold = $3 WHERE ns_id = $1") == []
    assert forgotten_folds("UPDATE trash SET path = $3 || path WHERE ns_id = $1") == []
    assert forgotten_folds("UPDATE trash SET path = $3 || substr(path, 2) WHERE ns_id = $1") == ["UPDATE of path"]
    assert forgotten_folds("UPDATE entries SET path = $2 WHERE ns_id = $1") == ["UPDATE of path"]
    assert forgotten_folds(
        "INSERT INTO entries (path, name_fold) VALUES ($1, $2) ON CONFLICT (x) DO UPDATE SET path = EXCLUDED.path"
    ) == ["UPDATE of path"]
    assert forgotten_folds("UPDATE entries SET deleted = true WHERE path_key = $1") == []
    assert forgotten_folds("INSERT INTO trash (ns_id, path) VALUES ($1, $2)") == ["INSERT column"]
    assert forgotten_folds("ON CONFLICT (ns_id, path_key) DO UPDATE SET path = EXCLUDED.path") == ["UPDATE of path"]
