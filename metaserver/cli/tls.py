"""``--tls-cert``/``--tls-key`` of the serving commands: HTTPS on every port without a proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def tls_options(f):
    """TLS on every port of the server, without a proxy in front."""
    f = click.option(
        "--tls-key",
        envvar="TESSERA_TLS_KEY",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The private key of --tls-cert (PEM).",
    )(f)
    return click.option(
        "--tls-cert",
        envvar="TESSERA_TLS_CERT",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Serve HTTPS on every port with this PEM certificate chain (with --tls-key).",
    )(f)


def check_tls(cert: Path | None, key: Path | None) -> None:
    """Both or neither, readable and matching: a bad pair stops the start with the flag's name."""
    import ssl

    from ..core.tls import server_ssl_context

    try:
        server_ssl_context(cert, key)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except (OSError, ssl.SSLError) as e:
        raise click.BadParameter(f"cannot use {cert} with {key}: {e}", param_hint="--tls-cert/--tls-key") from None


def tls_settings(kw: dict[str, Any]) -> dict[str, Path | None]:
    """Take ``tls_cert`` and ``tls_key`` out of ``kw`` (checked); the ServerSettings fields they set."""
    cert, key = kw.pop("tls_cert", None), kw.pop("tls_key", None)
    check_tls(cert, key)
    return {"tls_cert": cert.resolve() if cert else None, "tls_key": key.resolve() if key else None}
