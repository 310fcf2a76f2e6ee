"""A staged download: the temp file a prefetch filled before the version existed.

:mod:`client.sync_prefetch` fetches the stored blocks of another device's
pending upload into a :class:`~client.download_temp.TempFile` in the folder's
state directory, each block verified against its SHA-256 as a download
verifies it, and notes the xxh3-64 of those very bytes. Once the upload is
committed, :func:`client.transfer_download.download_file` takes the staged
file over (:meth:`TempFile.move_beside`: a rename, the bytes are not copied
again), re-checks each staged block against its xxh3 as it reads it back
(:meth:`TempFile.check_in_place`), and downloads only the blocks that are
missing or fail that check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .download_temp import TempFile
from .models import RemoteBlock


@dataclass(frozen=True, slots=True)
class StagedBlock:
    """A block written into the staged file after its SHA-256 and size were verified."""

    sha256: str
    size: int
    #: xxh3-64 (hex) of the bytes written
    xxh3_64: str

    def serves(self, block: RemoteBlock) -> bool:
        """Whether this is the block the committed version has at its index."""
        return self.sha256 == block.sha256 and self.size == block.size


@dataclass(slots=True)
class StagedPart:
    """A staged file of ``size`` bytes and what it holds, by block index."""

    part: TempFile
    size: int
    content_hash: str
    blocks: dict[int, StagedBlock] = field(default_factory=dict)
