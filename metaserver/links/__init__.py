"""Share links: a random token bound to one path in one namespace (:mod:`.store`), what a
visitor of a link may reach below that path (:mod:`.reach`), and the links following what they
open when it moves (:mod:`.follow`).

The API routes that make, list and revoke links are in :mod:`metaserver.web.links`; the pages a
visitor sees at ``/s/<token>`` in :mod:`metaserver.pages.links`; the block server checks a
link's grants itself (``blockserver/access.py``).
"""
