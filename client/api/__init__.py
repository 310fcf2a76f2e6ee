"""The requests of the client library: one async method per request of docs/api.md, the HTTP
transport under them, the retry policy and the typed answers. Imports nothing else of ``client``."""
