"""TLS for servers that face clients without a proxy in front (``--tls-cert``/``--tls-key``)."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_ssl_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server context for ``cert`` (a PEM chain: the certificate, then its intermediates) and
    ``key``; None when neither is given. TLS 1.2 at least; OSError or ssl.SSLError if the files
    cannot be read or do not match."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
