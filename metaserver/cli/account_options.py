"""Options of ``tessera-server`` about accounts: logins, token lifetime, the public URL, share links."""

from __future__ import annotations

from typing import Any

import click

#: the keyword arguments these options add to a serving command
NAMES = (
    "public_url", "token_idle_expiry", "login_queue", "login_address_rate_limit", "login_address_burst",
    "link_rate_limit", "link_burst", "link_password_rate_limit", "link_password_burst",
)  # fmt: skip


def account_options(f):
    """The serving commands' options about accounts (see :func:`account_settings`)."""
    for opt in reversed([*_login_options(), *_link_options()]):
        f = opt(f)
    return f


def _login_options() -> list:
    return [
        click.option(
            "--public-url",
            envvar="TESSERA_PUBLIC_URL",
            default="",
            help="The URL clients reach the metadata server at, e.g. https://files.example.org behind a "
            "TLS proxy; the notify URL announced to clients is built from it, never from a request's Host "
            "header [default: http://--host:--meta-port, https with --tls-cert].",
        ),
        click.option(
            "--token-idle-expiry",
            envvar="TESSERA_TOKEN_IDLE_EXPIRY",
            default="90d",
            show_default=True,
            help="A device unused for this long is signed out (0: never).",
        ),
        click.option(
            "--login-queue",
            envvar="TESSERA_LOGIN_QUEUE",
            type=click.IntRange(min=1),
            default=16,
            show_default=True,
            help="Password checks waiting or running at once per server process (a quarter of them "
            "for one client address); more logins are answered 503 with Retry-After.",
        ),
        click.option(
            "--login-address-rate-limit",
            envvar="TESSERA_LOGIN_ADDRESS_RATE_LIMIT",
            default="30/min",
            show_default=True,
            help="Failed logins per client address, whatever the user names, per server process (0: no limit).",
        ),
        click.option(
            "--login-address-burst",
            envvar="TESSERA_LOGIN_ADDRESS_BURST",
            type=click.IntRange(min=1),
            default=30,
            show_default=True,
            help="Failed logins from one address allowed at once before --login-address-rate-limit applies.",
        ),
    ]


def _link_options() -> list:
    return [
        click.option(
            "--link-rate-limit",
            envvar="TESSERA_LINK_RATE_LIMIT",
            default="5/s",
            show_default=True,
            help="Share-link requests (pages, downloads) per client address, per server process (0: no limit).",
        ),
        click.option(
            "--link-burst",
            envvar="TESSERA_LINK_BURST",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Share-link requests from one address allowed at once before --link-rate-limit applies.",
        ),
        click.option(
            "--link-password-rate-limit",
            envvar="TESSERA_LINK_PASSWORD_RATE_LIMIT",
            default="6/min",
            show_default=True,
            help="Wrong share-link passwords per link, per server process (one address: three times that; 0: no limit).",
        ),
        click.option(
            "--link-password-burst",
            envvar="TESSERA_LINK_PASSWORD_BURST",
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="Wrong passwords for one link allowed at once before --link-password-rate-limit applies.",
        ),
    ]


def base_url_arg(url: str, flag: str) -> str:
    """A base URL flag's value (``http(s)://host[:port]``, no trailing slash; empty stays empty)."""
    from .checks import base_url

    return base_url(url, flag) if url else ""


def account_settings(kw: dict[str, Any], duration_arg, rate_arg) -> dict[str, Any]:
    """Take this module's options out of ``kw``; the ServerSettings fields they set."""
    values = {name: kw.pop(name) for name in NAMES}
    return {
        "public_url": base_url_arg(values["public_url"], "--public-url"),
        "token_idle_expiry": duration_arg(values["token_idle_expiry"], "--token-idle-expiry"),
        "login_queue": values["login_queue"],
        "login_address_rate_limit": rate_arg(values["login_address_rate_limit"], "--login-address-rate-limit"),
        "login_address_burst": values["login_address_burst"],
        "link_rate_limit": rate_arg(values["link_rate_limit"], "--link-rate-limit"),
        "link_burst": values["link_burst"],
        "link_password_rate_limit": rate_arg(values["link_password_rate_limit"], "--link-password-rate-limit"),
        "link_password_burst": values["link_password_burst"],
    }
