"""The requests of the client library: one async method per request of docs/api.md, the HTTP
transport under them and the retry policy. The answers are the message types of
:mod:`protocol.messages`, which the server builds too. Imports nothing else of ``client``."""
