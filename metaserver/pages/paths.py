"""Tree paths in the web app's URLs: ``/files/Docs/a b.txt`` names ``/Docs/a b.txt``."""

from __future__ import annotations

from aiohttp import web

from protocol import paths


def url_tree_path(request: web.Request) -> str:
    """The tree path in the URL's ``{path}`` (percent-decoded by the router), normalized;
    ``bad_path`` if it breaks the path rules."""
    tail = request.match_info.get("path", "").strip("/")
    return paths.normalize("/" + tail) if tail else paths.ROOT


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) of each folder from the root down to ``path``."""
    crumbs = [("Files", paths.ROOT)]
    if path == paths.ROOT:
        return crumbs
    so_far = ""
    for part in path.strip("/").split("/"):
        so_far += "/" + part
        crumbs.append((part, so_far))
    return crumbs
