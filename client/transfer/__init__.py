"""Whole files up and down, on top of :mod:`client.api`: :class:`~client.transfer.client.TesseraClient`
(the library's client), hashing local files, upload sessions and their resume journal, downloads
into verified temp files, batches of small files."""
