"""Carrying out a plan: the executor, its single-file and batch transfers, safe remote deletions,
and the results they report."""
