"""Tessera's wire protocol: messages (:mod:`protocol.messages`), error codes, path rules, block
hashing, grants.

Sans-io: nothing here imports asyncio or touches the network or the disk, but for
:mod:`protocol.fs` (blocking file system helpers both sides share). The servers and the client
adapt it.
"""
