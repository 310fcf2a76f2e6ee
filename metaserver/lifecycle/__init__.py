"""Retention: thinning old versions and emptying the trash past its days, in the metadata server.

:mod:`.retention` is the rule (which versions a file keeps, when a deleted item expires), pure
and clocked by the caller; :mod:`.pruner` applies it to every namespace in bounded batches,
one run at a time across the cluster; :mod:`.periodic` runs it on an interval in each
metadata server process (``tessera-server prune`` runs it by hand).
"""

from .pruner import PRUNE_LOCK_ID, PruneReport, prune
from .retention import DEFAULT_DAYS, RECENT, keeps

__all__ = ["DEFAULT_DAYS", "PRUNE_LOCK_ID", "RECENT", "PruneReport", "keeps", "prune"]
