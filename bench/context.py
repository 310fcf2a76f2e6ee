"""What every scenario is handed: options from the command line, where to write, the servers' options."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from . import plots
from .s3_target import S3Target
from .servers import StackOptions

log = logging.getLogger(__name__)


@dataclass
class BenchContext:
    out_dir: Path
    #: parent of the temp directories (test data, server data); None: the system's temp dir
    work_dir: Path | None
    #: prefix of every output file of this run (scenario name and a time stamp)
    stamp: str
    console: Console
    #: --size values in bytes (None: each scenario's default)
    sizes: list[int] | None = None
    repeat: int | None = None
    count: int | None = None
    clients: int | None = None
    duration: float | None = None
    polls: list[int] | None = None
    #: blocks in S3: moto's server, or ``s3_target`` when the user named a service
    s3: bool = False
    s3_target: S3Target | None = None
    cli: bool = True
    peers: bool = True
    draw: bool = True
    database_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stack_options(self, **kw: Any) -> StackOptions:
        return StackOptions(s3=self.s3, s3_target=self.s3_target, database_url=self.database_url, **kw)

    def plot_path(self, scenario: str, name: str) -> Path | None:
        """Where a plot goes, or None when plots are off or matplotlib is missing."""
        if not self.draw:
            return None
        if not plots.available():
            log.warning("matplotlib is not installed (pip install matplotlib): no plots")
            self.draw = False
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self.out_dir / f"{self.stamp}-{scenario}-{name}.png"

    def say(self, text: str) -> None:
        """A progress line on stderr-like console output (dim), so long runs show they are alive."""
        self.console.print(f"[dim]· {text}[/]")
