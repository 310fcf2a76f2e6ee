"""PNG plots (matplotlib, Agg backend) where a picture says more than the table.

Imported only when a scenario draws, so the harness works (without plots)
where matplotlib is missing; ``available()`` says which.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path

from .stats import MiB


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def throughput_bars(path: Path, title: str, groups: Mapping[str, Mapping[str, float]]) -> Path:
    """Grouped horizontal bars: ``groups[group][series] = MiB/s`` (e.g. group = file size)."""
    plt = pyplot()
    series = list(dict.fromkeys(s for g in groups.values() for s in g))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(series) * len(groups) + 1.5))
    height = 0.8 / max(1, len(groups))
    for gi, (group, values) in enumerate(groups.items()):
        ys = [si + gi * height for si in range(len(series))]
        xs = [values.get(s, 0.0) for s in series]
        bars = ax.barh(ys, xs, height=height, label=group)
        ax.bar_label(bars, labels=[f"{x:.0f}" if x else "" for x in xs], padding=2, fontsize=8)
    ax.set_yticks([si + height * (len(groups) - 1) / 2 for si in range(len(series))], series)
    ax.invert_yaxis()
    ax.set_xlabel("MiB/s")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rss_timeline(path: Path, title: str, series: Mapping[str, Sequence[tuple[float, int]]]) -> Path:
    """Resident memory over time, one line per process."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    for label, points in series.items():
        if points:
            ax.plot([t for t, _ in points], [b / MiB for _, b in points], label=label, linewidth=1.2)
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_cdf(path: Path, title: str, samples: Mapping[str, Sequence[float]], unit: str = "ms") -> Path:
    """Empirical CDF of latencies (seconds in, ``unit`` on the axis), one line per series."""
    plt = pyplot()
    scale = {"ms": 1000.0, "s": 1.0}[unit]
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, values in samples.items():
        if not values:
            continue
        xs = sorted(v * scale for v in values)
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax.step(xs, ys, where="post", label=f"{label} (n={len(xs):,})")
    ax.axhline(0.99, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel(f"latency ({unit})")
    ax.set_ylabel("fraction answered")
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_histogram(path: Path, title: str, samples: Mapping[str, Sequence[float]], unit: str = "ms") -> Path:
    plt = pyplot()
    scale = {"ms": 1000.0, "s": 1.0}[unit]
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, values in samples.items():
        if values:
            ax.hist([v * scale for v in values], bins=60, alpha=0.6, label=f"{label} (n={len(values):,})")
    ax.set_xlabel(f"latency ({unit})")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
