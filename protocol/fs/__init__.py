"""The one part of ``protocol`` that touches the disk: the file system helpers that the client
and the block server both need (atomic writes, flushing groups of files, the C library calls
that :mod:`os` lacks).

Blocking calls only, no asyncio: callers run them in worker threads.
"""
