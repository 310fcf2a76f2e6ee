"""The links' tests run both servers as the web app's tests do (a link is opened at its pages)."""

from tests.metaserver.pages.conftest import web_servers  # noqa: F401 (a fixture)
