"""A staged download: the temp file a prefetch filled before the version existed.

:mod:`client.sync.remote.prefetch` fetches the stored blocks of another device's
pending upload into a :class:`~client.transfer.download.temp.TempFile` in the folder's
state directory, each block verified against its SHA-256 as a download
verifies it, and notes the xxh3-64 of those very bytes. Once the upload is
committed, :func:`client.transfer.download.file.download_file` takes the staged
file over (:meth:`TempFile.move_beside`: a rename, the bytes are not copied
again) and downloads only the blocks that are missing.

The staged blocks are trusted as a download trusts the blocks it wrote, as
long as nothing else has written to the file since: after each block the
prefetch notes the file's change stamp (inode, size, mtime and ctime, from
``fstat`` of the descriptor it holds; :meth:`StagedPart.note_written`), and
the take-over compares it (:meth:`StagedPart.unchanged`). A write by anyone
else changes the ctime (which no program can set back); Linux 6.13 and later
give the first change after a ``fstat`` a fine-grained time, so not even a
write in the same clock tick goes unseen there. Where the stamp differs or
was not noted, each staged block is read back and checked against its xxh3
(:meth:`TempFile.check_in_place`) and downloaded again if it fails. Reading
every block back cost the daemon ~0.3 CPU-s and ~0.4 s per 256 MiB taken over
(the blocks were written past the page cache, so they came from the disk).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.messages.blocks import RemoteBlock

from .temp import TempFile


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
    #: the file's change stamp right after the last staged block was written (None: not noted)
    written: tuple[int, ...] | None = None

    def note_written(self) -> None:
        """Note the change stamp after a staged block was written (blocking; the caller serialises
        the calls, so the last one noted follows every write that ended before it)."""
        self.written = self.part.change_stamp()

    def unchanged(self) -> bool:
        """Whether nothing wrote to the file since the last :meth:`note_written` (blocking)."""
        return self.written is not None and self.part.change_stamp() == self.written
