"""A move between two namespaces (home and a share, or two shares) by a user who may write both.

Nothing is uploaded again: each file becomes a new file of the destination whose version
lists the same blocks (:func:`~metaserver.sharing.moves.copy_file`); the source goes to the
source namespace's trash, where its members can restore it until retention removes it. Its
share links follow it into the destination (:mod:`metaserver.links.follow`). The
blocks keep their namespace (the dedup scope), so the destination's dedup never finds them.
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.errors import AlreadyExists, NotFound
from protocol.messages.files import Metadata

from ..core import members
from ..core.callers import Context
from ..links.follow import follow
from ..tree import entries, ops
from ..tree.journal import Author
from . import mounts, moves
from .places import Place


async def move(conn: asyncpg.Connection, ctx: Context, src: Place, dst: Place) -> Metadata:
    """Move the caller's ``src`` (a file or a folder) to ``dst`` in another namespace; the
    metadata of what is at ``dst`` now, in the caller's paths."""
    journals = await mounts.begin_all(conn, [src.ns_id, dst.ns_id], Author.of(ctx.caller))
    for ns in (src.ns_id, dst.ns_id):  # under the locks: a removal that came first is seen
        await members.require(conn, ns, ctx.caller.user_id, members.WRITE)
    js, jd = journals[src.ns_id], journals[dst.ns_id]
    subtree = await entries.live_subtree(conn, src.ns_id, paths.path_key(src.path))
    if not subtree or src.path == paths.ROOT:
        raise NotFound(f"{src.outer(src.path)} does not exist")
    existing = await entries.get(conn, dst.ns_id, paths.path_key(dst.path))
    if existing is not None and not existing["deleted"]:
        raise AlreadyExists(f"{dst.outer(existing['path'])} already exists")
    parent = await ops.ensure_parents(jd, dst.path)
    new_top = paths.join(parent, paths.basename(dst.path))
    cut = len(subtree[0]["path"])
    top_meta: Metadata | None = None
    for row in subtree:
        path = new_top + row["path"][cut:]
        if row["kind"] == "folder":
            await ops.upsert_entry(jd, path, "folder", None)
            meta = Metadata("folder", path, paths.basename(path))
        else:
            meta = await moves.copy_file(jd, row, path)
        top_meta = top_meta or meta
    await ops.delete(js, src.path)
    await follow(conn, src.ns_id, src.path, dst.ns_id, new_top)  # the links go with what they open
    await mounts.flush_all(journals)
    assert top_meta is not None  # the subtree has its top
    return dst.out(top_meta)
