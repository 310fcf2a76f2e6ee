"""Numbered SQL migrations (``NNN_name.sql``), applied in order by ``metaserver.core.migrate``."""
