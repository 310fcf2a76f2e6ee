"""Touch free memory once before a scenario writes big files, so it measures software, not the VM.

Why: a virtual machine whose memory the hypervisor backs lazily pays for the first write to
each page of guest memory it has never used: on the machines of RESULTS.md, writing 1 GiB
into page cache took 2.4–3.1 s into memory never touched before and 0.24–0.40 s into memory
used before (``dd if=/dev/zero bs=1M count=1024``, one after the other). A freshly booted VM
has gigabytes of such memory, a machine that has run for a while has none, and whichever
step of a run first wrote into it paid: `cp` of a 1 GiB file ran at 0.46x MD5 where 256 MiB
ran at 2.9x. Before a scenario that writes big files, the harness maps and populates as much
anonymous memory as the scenario will write (at most what is free, less a reserve) and
releases it: from then on the page cache gets pages the guest has used, as on a machine that
has been up for a while. It is done for every figure of the scenario alike (baselines and
peers too) and the run records how long it took; ``--cold`` skips it.
"""

from __future__ import annotations

import mmap
import time
from dataclasses import dataclass

GiB = 1 << 30
#: never populate into the last this-many bytes of free memory
RESERVE = 3 * GiB // 2
#: populated in pieces of this size (all held until the end, so each piece is new memory)
PIECE = GiB // 4


@dataclass(frozen=True)
class Warmup:
    requested: int
    touched: int
    seconds: float
    free_before: int

    def to_json(self) -> dict[str, float | int]:
        rate = self.touched / self.seconds / 2**20 if self.seconds > 0 else 0.0
        return {"requested_bytes": self.requested, "touched_bytes": self.touched, "seconds": self.seconds,
                "mib_per_s": rate, "free_before_bytes": self.free_before}  # fmt: skip

    def describe(self) -> str:
        if not self.touched:
            return f"no free memory to warm ({self.free_before / GiB:.1f} GiB free)"
        return (f"warmed {self.touched / GiB:.1f} GiB of free memory in {self.seconds:.1f} s "
                f"({self.touched / self.seconds / 2**20:,.0f} MiB/s)")  # fmt: skip


def mem_free() -> int:
    """MemFree of /proc/meminfo in bytes (0 where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemFree:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def warm_free_memory(nbytes: int) -> Warmup:
    """Populate and release up to ``nbytes`` of anonymous memory (blocking: call in a thread)."""
    free = mem_free()
    target = max(0, min(nbytes, free - RESERVE))
    target -= target % mmap.PAGESIZE
    held: list[mmap.mmap] = []
    t = time.perf_counter()
    touched = 0
    try:
        while touched < target:
            n = min(PIECE, target - touched)
            held.append(mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE))
            touched += n
    except OSError:  # out of address space or memory: what was touched is warm all the same
        pass
    finally:
        for m in held:
            m.close()
    return Warmup(nbytes, touched, time.perf_counter() - t, free)
