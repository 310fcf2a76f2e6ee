"""The web app's routes and what it adds to the metadata server (:func:`setup`)."""

from __future__ import annotations

from aiohttp import web

from ..web import changes
from . import (
    archive,
    blocks,
    browse,
    download,
    link_access,
    links,
    middleware,
    render,
    sections,
    signin,
    static,
)


async def home(request: web.Request) -> web.StreamResponse:
    return render.redirect("/files/")


def setup(app: web.Application) -> None:
    """Templates, the block fetcher's client session, security headers and the page routes."""
    render.setup(app)
    app.cleanup_ctx.append(blocks.http_session)
    app.on_response_prepare.append(middleware.security_headers)
    r = app.router
    r.add_get("/", home)
    r.add_get("/login", signin.login_page)
    r.add_post("/login", signin.login)
    r.add_post("/logout", signin.logout)
    r.add_get("/files", home)
    r.add_get("/files/{path:.*}", browse.files)
    r.add_get("/download/{path:.+}", download.download)
    r.add_get("/raw/{path:.+}", download.raw)
    r.add_get("/zip/{path:.*}", archive.zip_folder)
    r.add_get(middleware.POLL_PATH, changes.longpoll)
    r.add_get("/trash", sections.trash)
    r.add_get("/devices", sections.devices)
    r.add_get("/account", sections.account)
    r.add_get("/search", sections.search)
    r.add_get("/static/{hash}/{name}", static.static_file)
    links.add_routes(r)  # the share links' pages, for anyone with a link
    link_access.setup_limits(app)


#: the middlewares the metadata server puts after its error middleware, in this order
MIDDLEWARES = (middleware.page_errors, middleware.session_middleware)
