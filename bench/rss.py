"""Resident memory of processes: sampled over time (psutil) and the kernel's exact peak (VmHWM).

``RssSampler`` polls every watched process from a thread every ``interval``
seconds, so a plot can show memory over a transfer. Sampling can miss a short
spike, so on Linux the kernel's high-water mark is used as well: writing ``5``
to ``/proc/PID/clear_refs`` resets ``VmHWM`` to the current RSS, and reading it
after a phase gives that phase's exact peak.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def rss(pid: int) -> int | None:
    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (0.0 if it is gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0
    return t.user + t.system


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark of ``pid`` to its current RSS; False where unsupported."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def kernel_peak(pid: int) -> int | None:
    """``VmHWM`` of ``pid`` in bytes (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class Track:
    """RSS samples of one process: (seconds since the sampler started, bytes)."""

    label: str
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    hwm_reset: bool = False
    #: the kernel's peak mark as last read while the process lived (it cannot be read after exit)
    last_hwm: int | None = None

    @property
    def sampled_peak(self) -> int | None:
        return max((b for _, b in self.samples), default=None)

    def peak(self) -> int | None:
        """The best peak we know: the kernel's mark if it was reset for this phase, else the samples'."""
        sampled = self.sampled_peak
        if self.hwm_reset:
            hwm = kernel_peak(self.pid) or self.last_hwm
            if hwm is not None:
                return max(hwm, sampled or 0)
        return sampled


class RssSampler:
    """Samples the RSS of several processes from a thread; use as a context manager."""

    def __init__(self, processes: dict[str, int], interval: float = 0.05) -> None:
        self.interval = interval
        self.tracks = {label: Track(label, pid) for label, pid in processes.items()}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._procs: dict[str, psutil.Process] = {}

    def __enter__(self) -> RssSampler:
        for label, track in self.tracks.items():
            track.hwm_reset = reset_peak(track.pid)
            with contextlib.suppress(psutil.Error):
                self._procs[label] = psutil.Process(track.pid)
        self._t0 = time.perf_counter()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def watch(self, label: str, pid: int) -> None:
        """Watch one more process from now on (e.g. a child started after the sampler)."""
        track = Track(label, pid, hwm_reset=reset_peak(pid))
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            return
        with self._lock:
            self.tracks[label] = track
            self._procs[label] = proc

    def _sample(self) -> None:
        now = time.perf_counter() - self._t0
        with self._lock:
            procs = list(self._procs.items())
        for label, proc in procs:
            track = self.tracks[label]
            try:
                track.samples.append((now, proc.memory_info().rss))
            except psutil.Error:
                continue
            if track.hwm_reset and (hwm := kernel_peak(track.pid)) is not None:
                track.last_hwm = max(track.last_hwm or 0, hwm)

    def peaks(self) -> dict[str, int | None]:
        return {label: track.peak() for label, track in self.tracks.items()}

    def series(self) -> dict[str, list[tuple[float, int]]]:
        return {label: list(track.samples) for label, track in self.tracks.items()}
