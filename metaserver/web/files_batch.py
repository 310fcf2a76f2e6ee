"""``POST /v1/files/blocks_batch``: the block lists (with get grants) of many files at once.

Downloading thousands of small files one ``GET /v1/files/blocks`` each spends
the time in round trips (and in the per-token rate limit). This answers up to
1,000 files (:data:`metaserver.tree.batch.MAX_BATCH`) in one request and three queries. The answer is
bounded: at most :data:`MAX_BLOCKS` blocks in all; a file past that budget
comes with a shorter list (``start + len(blocks) < total``), and its caller
pages the rest with ``GET /v1/files/blocks``. A file that cannot be answered
(not found, a folder) gets its own ``{"error": ...}``; the others are answered.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from protocol import paths
from protocol.errors import BadRequest, IsAFolder, NotFound, TesseraError
from protocol.messages.blocks import BlockPage, RemoteBlock

from ..core import db
from ..core.bodies import MIB, body_limit, read_body
from ..core.http import MAX_BIGINT, respond
from ..keys import POOL, SETTINGS
from ..tree import entries
from ..tree.batch import MAX_BATCH, check_items
from .auth import authenticate
from .files import remote_block

#: blocks in one answer, over all its files
MAX_BLOCKS = 10_000


def _parse(item: Any) -> tuple[str, int | None]:
    """One requested file: its path and the revision asked for (None: the current one)."""
    if not isinstance(item, dict):
        raise BadRequest("each file is an object {path, rev?}")
    path = paths.normalize(item.get("path"))
    rev = item.get("rev")
    if rev is not None and (not isinstance(rev, int) or isinstance(rev, bool) or not 0 < rev <= MAX_BIGINT):
        raise BadRequest("rev must be a positive integer or null")
    return path, rev


@body_limit(8 * MIB, max_container_len=MAX_BATCH)
async def file_blocks_batch(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    settings = request.app[SETTINGS]
    raw = check_items(await read_body(request), "files")
    parsed: list[tuple[str, int | None] | TesseraError] = []
    for item in raw:
        try:
            parsed.append(_parse(item))
        except TesseraError as e:  # a bad item answers its own error
            parsed.append(e)
    async with db.connection(request.app[POOL]) as conn:
        revs = await _revisions(conn, ctx.ns_id, parsed)
        versions, rows = await _block_lists(conn, ctx.ns_id, revs)
    blocks: dict[int, list[RemoteBlock]] = {v: [] for v in versions}
    for b in rows:
        blocks[b["version_id"]].append(remote_block(settings, ctx.caller.user_id, b))
    servers = list(settings.block_urls)
    answers: list[BlockPage | TesseraError] = []
    for r in revs:
        if not isinstance(r, int):
            answers.append(r)
        elif r not in versions:
            answers.append(NotFound(f"no revision {r}"))
        else:
            answers.append(entries.version_page(versions[r], 0, blocks[r], servers))
    return respond(request, BlockPage.batch_to_wire(answers, servers))


async def _revisions(
    conn: asyncpg.Connection, ns_id: int, parsed: list[tuple[str, int | None] | TesseraError]
) -> list[int | TesseraError]:
    """The revision each file asked for names: the one given, else the current one (or an error)."""
    revs: list[int | TesseraError] = []
    # the current revision of the files asked for without one
    wanted = [
        paths.path_key(p[0])
        for p in parsed
        if isinstance(p, tuple) and p[1] is None and p[0] != paths.ROOT
    ]
    current = await entries.get_many(conn, ns_id, wanted) if wanted else {}
    for p in parsed:
        if isinstance(p, TesseraError):
            revs.append(p)
            continue
        path, rev = p
        if rev is not None:
            revs.append(rev)
            continue
        row = current.get(paths.path_key(path)) if path != paths.ROOT else None
        if path == paths.ROOT or (row is not None and not row["deleted"] and row["kind"] == "folder"):
            revs.append(IsAFolder(f"{path if row is None else row['path']} is a folder"))
        elif row is None or row["deleted"] or row["rev"] is None:
            revs.append(NotFound(f"{path} does not exist"))
        else:
            revs.append(row["rev"])
    return revs


async def _block_lists(
    conn: asyncpg.Connection, ns_id: int, revs: list[int | TesseraError]
) -> tuple[dict[int, asyncpg.Record], list[asyncpg.Record]]:
    """The namespace's versions among ``revs`` and their block rows, the first
    :data:`MAX_BLOCKS` blocks in all (the budget goes to the files in the order asked)."""
    ids = sorted({r for r in revs if isinstance(r, int)})
    versions = {
        v["id"]: v
        for v in await conn.fetch(
            f"""SELECT {entries.VERSION_PAGE_COLUMNS} FROM versions
                WHERE id = ANY($1::bigint[]) AND ns_id = $2""",
            ids,
            ns_id,
        )
    }
    # the block budget goes to the files in the order they were asked for
    budget = MAX_BLOCKS
    limits: dict[int, int] = {}
    for r in revs:
        if isinstance(r, int) and r in versions and r not in limits:
            limits[r] = min(budget, versions[r]["block_count"])
            budget -= limits[r]
    rows = await conn.fetch(
        """SELECT vb.version_id, vb.idx, b.id, b.size, b.md5, b.sha256
             FROM unnest($1::bigint[], $2::int[]) AS want(version_id, n)
             JOIN version_blocks vb ON vb.version_id = want.version_id AND vb.idx < want.n
             JOIN blocks b ON b.id = vb.block_id
            ORDER BY vb.version_id, vb.idx""",
        list(limits),
        list(limits.values()),
    )
    return versions, rows
