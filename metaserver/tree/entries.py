"""Reading entries (files, folders, deletion markers) and shaping their metadata."""

from __future__ import annotations

from typing import Any

import asyncpg

from protocol import paths
from protocol.errors import NotFound
from protocol.messages.blocks import BlockPage, RemoteBlock
from protocol.messages.files import Metadata

ROOT_KEY = paths.path_key(paths.ROOT)

ENTRY_COLUMNS = """e.path_key, e.parent_key, e.path, e.kind, e.rev, e.deleted, e.seq, e.modified_at,
                   v.size, v.content_hash, v.device_name, v.created_at AS version_at, v.client_modified"""
ENTRY_FROM = "entries e LEFT JOIN versions v ON v.id = e.rev"


def like_prefix(key: str) -> str:
    """A LIKE pattern matching everything strictly below the folder with this key."""
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"


def timestamp(value: Any) -> float | None:
    """A ``timestamptz`` as Unix seconds on the wire (None stays None)."""
    return None if value is None else value.timestamp()


#: the ``versions`` columns of a block list (:func:`version_page`)
VERSION_PAGE_COLUMNS = "id, path, size, content_hash, block_count, created_at, client_modified"


def version_page(
    v: asyncpg.Record, start: int, blocks: list[RemoteBlock], block_servers: list[str]
) -> BlockPage:
    """A page of a file version's block list (``GET /v1/files/blocks``, see docs/api.md)."""
    return BlockPage(
        v["id"],
        v["path"],
        v["size"],
        bytes(v["content_hash"]).hex(),
        modified=v["created_at"].timestamp(),
        client_modified=timestamp(v["client_modified"]),
        total=v["block_count"],
        start=start,
        blocks=blocks,
        block_servers=block_servers,
    )


async def version_blocks(conn: asyncpg.Connection, rev: int, start: int, limit: int) -> list[asyncpg.Record]:
    """A page of version ``rev``'s blocks from index ``start`` on, in order (idx, id, size, md5, sha256)."""
    return await conn.fetch(
        """SELECT vb.idx, b.id, b.size, b.md5, b.sha256
             FROM version_blocks vb JOIN blocks b ON b.id = vb.block_id
            WHERE vb.version_id = $1 AND vb.idx >= $2 ORDER BY vb.idx LIMIT $3""",
        rev,
        start,
        limit,
    )


def file_metadata(
    path: str, rev: int, size: int, content_hash: bytes, modified: Any, device: str, client_modified: Any = None
) -> Metadata:
    """The metadata of a file version at ``path`` (see docs/api.md): ``modified`` is when it
    was committed, ``client_modified`` the file's own time on the device that uploaded it (None
    if that device did not say)."""
    return Metadata(
        "file",
        path,
        paths.basename(path),
        rev,
        size,
        bytes(content_hash).hex(),
        modified.timestamp(),
        device,
        timestamp(client_modified),
    )


def metadata(row: asyncpg.Record | dict) -> Metadata:
    """The metadata of an entry row (live or deleted) joined with its version."""
    path = row["path"]
    if row["deleted"]:
        return Metadata("deleted", path, paths.basename(path))
    if row["kind"] == "folder":
        return Metadata("folder", path, paths.basename(path))
    return file_metadata(
        path, row["rev"], row["size"], row["content_hash"], row["version_at"], row["device_name"],
        row["client_modified"],
    )  # fmt: skip


ROOT_METADATA = Metadata("folder", paths.ROOT, "")


async def get(conn: asyncpg.Connection, ns_id: int, key: str) -> asyncpg.Record | None:
    """The entry row at ``key`` (live or deletion marker), or None."""
    return await conn.fetchrow(
        f"SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE e.ns_id = $1 AND e.path_key = $2", ns_id, key
    )


async def get_live(conn: asyncpg.Connection, ns_id: int, path: str) -> asyncpg.Record:
    row = await get(conn, ns_id, paths.path_key(path))
    if row is None or row["deleted"]:
        raise NotFound(f"{path} does not exist")
    return row


async def get_many(conn: asyncpg.Connection, ns_id: int, keys: list[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        f"SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE e.ns_id = $1 AND e.path_key = ANY($2::text[])", ns_id, keys
    )
    return {r["path_key"]: r for r in rows}


async def live_subtree(conn: asyncpg.Connection, ns_id: int, key: str) -> list[asyncpg.Record]:
    """The live entry at ``key`` and everything below it, shallowest first."""
    return await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM}
             WHERE e.ns_id = $1 AND NOT e.deleted AND (e.path_key = $2 OR e.path_key LIKE $3)
             ORDER BY length(e.path_key), e.path_key""",
        ns_id,
        key,
        like_prefix(key),
    )


async def list_children(
    conn: asyncpg.Connection, ns_id: int, folder_key: str, after: str, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM}
             WHERE e.ns_id = $1 AND e.parent_key = $2 AND NOT e.deleted AND e.path_key > $3
             ORDER BY e.path_key LIMIT $4""",
        ns_id,
        folder_key,
        after,
        limit,
    )
