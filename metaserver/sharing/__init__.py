"""Shared folders: a shared folder is a namespace of its own, mounted into each member's home
tree (docs/api.md, "Shared folders").

- :mod:`.places`: a user's path resolved through their mounts to (namespace, path inside it)
- :mod:`.moves`: moving entries from one namespace to another without moving bytes (share,
  unshare, and moves between namespaces)
- :mod:`.shares`: creating and unsharing a shared folder
- :mod:`.members`: invitations, roles, removal, leaving, and the listing of a user's shares
"""
