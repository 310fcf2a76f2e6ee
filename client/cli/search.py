"""``tessera search``: find files and folders by name."""

from __future__ import annotations

import click

from protocol.messages.search import MAX_LIMIT, MAX_QUERY, SearchMatch, SearchRequest

from . import output
from .context import CliContext, json_option, pass_cli, remote_path, run_async


@click.command()
@click.argument("query")
@click.option("--path", "under", default="/", show_default=True, metavar="FOLDER",
              help="Search only below this folder.")
@click.option("--type", "kind", type=click.Choice(["file", "folder"]), help="Only files, or only folders.")
@click.option("--deleted", is_flag=True, help="Also search deleted files and folders (the trash).")
@click.option("--limit", type=click.IntRange(1, 10 * MAX_LIMIT), default=50, show_default=True,
              envvar="TESSERA_SEARCH_LIMIT", help="Show at most this many matches (the best).")  # fmt: skip
@json_option
@pass_cli
def search(obj: CliContext, query: str, under: str, kind: str | None, deleted: bool, limit: int) -> None:
    """Find files and folders whose name holds QUERY (or, past those, one like it).

    Case and accents do not matter ("resume" finds "Résumé.pdf"). The best matches come first:
    the exact name, then names that start with QUERY, then names with a word that does, then
    names that hold it anywhere, then similar names (a typo).
    """
    if len(query) > MAX_QUERY:
        raise click.BadParameter(f"at most {MAX_QUERY} characters", param_hint="QUERY")
    request = SearchRequest(query, remote_path(under), kind, deleted, min(limit, MAX_LIMIT))
    request.check()

    async def go() -> tuple[list[SearchMatch], bool]:
        found: list[SearchMatch] = []
        async with obj.authed_client() as client:
            async for page in client.search_pages(request):
                found += page.matches
                if len(found) >= limit:
                    return found[:limit], page.has_more or len(found) > limit
        return found, False

    matches, more = run_async(go())
    doc = {"query": query, "matches": [m.to_wire() for m in matches], "has_more": more}
    obj.emit(doc, output.search_results(matches, more, limit))
