"""The messages of the API (docs/api.md), one module per area, each a frozen dataclass with
``from_wire`` and ``to_wire``: the servers build them and send ``to_wire()``, the client reads
answers with ``from_wire`` (a malformed one is a :class:`~protocol.errors.ProtocolError`), and
the server reads requests with it (a malformed one is a 400
:class:`~protocol.errors.BadRequest`).

- :mod:`.files`: metadata of files and folders, folder listings, a file's versions;
- :mod:`.auth`: login, the account, its devices and its password;
- :mod:`.changes`: the change feed and long-polls;
- :mod:`.uploads`: upload requests (and the upload modes), sessions, and the pending uploads
  offered to other devices;
- :mod:`.blocks`: a file version's block list, with get grants;
- :mod:`.lifecycle`: usage, the trash listing, a purge's answer;
- :mod:`.links`: share links (a link, a new one with its URL, the list);
- :mod:`.sharing`: shared folders (a share, its members and invitations, a user's shares);
- :mod:`.search`: a search by name (its request is query parameters) and its page of matches;
- :mod:`.wire`: the one reader and writer they are all declared with.
"""
