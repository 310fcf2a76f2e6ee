"""Logging of ``tessera-server``, configured here and nowhere else: text lines or JSON lines.

Text: ``2026-05-01 12:00:00,123 INFO tessera.access: GET /v1/files/list 200 ... rid=...``.
JSON (``--log-format json``): one object per line with ``time``, ``level``, ``logger``,
``message``, the ``request_id`` of the request being handled (if any), the access log's
fields (``method``, ``route``, ``status``, ``bytes_in``, ``bytes_out``, ``duration_ms``,
``user_id``, ``remote``) and ``exc`` for a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

import click

from ..core.requestlog import RequestIdFilter

FORMATS = ("text", "json")
#: fields an access log record carries as ``extra`` (metaserver.core.requestlog)
_FIELDS = ("method", "route", "status", "bytes_in", "bytes_out", "duration_ms", "user_id", "remote")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, one line each."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            doc["request_id"] = rid
        for name in _FIELDS:
            if hasattr(record, name):
                doc[name] = getattr(record, name)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def setup_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level`` in ``log_format`` (text or json); every record gets its request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO


log_format_option = click.option(
    "--log-format",
    envvar="TESSERA_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text, or as one JSON object each (for log collectors).",
)
