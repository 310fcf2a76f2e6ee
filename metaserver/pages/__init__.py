"""The web app: HTML pages under ``/`` on the metadata server (the API stays under ``/v1``).

Server-rendered Jinja2 templates (autoescaping on) and a little plain JavaScript in
``static/`` (no build step); every action the page takes is a call to the same ``/v1`` API
the CLI uses. See docs/web.md for what it does and its security model.

- :mod:`.app`: the routes and what the app adds to the metadata server (:func:`.app.setup`)
- :mod:`.session`: browser sessions (a device token in an HttpOnly cookie) and CSRF tokens
- :mod:`.middleware`: the cookie as the request's token, CSRF checks, HTML errors, CSP headers
- :mod:`.signin`: ``/login``, ``/logout``
- :mod:`.browse`: ``/files/{path}`` (a folder's listing, a file's page)
- :mod:`.download` (``/download/``, ``/raw/``), :mod:`.archive` (``/zip/``), both reading
  blocks through :mod:`.blocks` (fetched from the block servers, verified, streamed)
- :mod:`.sections`: ``/trash``, ``/devices``, ``/account``, ``/search``
- :mod:`.render` (templates, filters), :mod:`.static` (hashed static URLs), :mod:`.kinds`
  (icons and previews by file type), :mod:`.paths` (tree paths in URLs)

It stands on :mod:`metaserver.core`, :mod:`metaserver.tree`, :mod:`metaserver.changes` and
:mod:`metaserver.web` (the API handlers it shares: authentication, sign-in, sign-out).
"""
