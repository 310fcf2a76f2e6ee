"""What a scenario reports: rows for the table, targets met or not, JSON, the rich table.

A :class:`ScenarioResult` carries the raw samples, their summaries, the ratios
to the baselines (each named after its baseline, e.g. ``upload_ratio_to_md5``),
the issue's targets with the figure each was judged on, and notes. The JSON
document written for a run holds the machine, the parameters and all of it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

MET, NOT_MET, NOT_MEASURED = "met", "not met", "not measured"


@dataclass
class Row:
    """One line of a scenario's table."""

    section: str
    metric: str
    value: float | int | str | None
    unit: str = ""
    #: the value as a ratio to a baseline of the same run, and that baseline's name
    ratio: float | None = None
    ratio_to: str = ""
    note: str = ""


@dataclass
class Target:
    """One target of issue 5, judged on a figure measured in this run."""

    name: str
    figure: float | None
    comparison: str  # "<=" or ">="
    threshold: float
    unit: str = ""
    detail: str = ""
    #: why there is no figure (e.g. "needs the sync daemon")
    reason: str = ""

    @property
    def status(self) -> str:
        if self.figure is None or (isinstance(self.figure, float) and math.isnan(self.figure)):
            return NOT_MEASURED
        ok = self.figure <= self.threshold if self.comparison == "<=" else self.figure >= self.threshold
        return MET if ok else NOT_MET

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass
class ScenarioResult:
    scenario: str
    parameters: dict[str, Any] = field(default_factory=dict)
    #: raw samples (every measured value), by name
    samples: dict[str, Any] = field(default_factory=dict)
    #: medians, percentiles and other derived figures
    summary: dict[str, Any] = field(default_factory=dict)
    #: figures as ratios to baselines measured in the same run
    ratios: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    duration_s: float = 0.0
    error: str | None = None

    def row(self, *args: Any, **kw: Any) -> Row:
        r = Row(*args, **kw)
        self.rows.append(r)
        return r

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "duration_s": self.duration_s,
            "error": self.error,
            "parameters": self.parameters,
            "summary": self.summary,
            "ratios": self.ratios,
            "targets": [t.to_json() for t in self.targets],
            "rows": [asdict(r) for r in self.rows],
            "notes": self.notes,
            "plots": self.plots,
            "samples": self.samples,
        }


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become null, paths and tuples plain values."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def fmt_ratio(value: float | None, to: str) -> str:
    if value is None or math.isnan(value):
        return ""
    shown = f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"  # 0.0105x, not 0.01x
    return f"{shown}x {to}".strip()


def print_result(console: Console, result: ScenarioResult) -> None:
    table = Table(title=f"tessera bench: {result.scenario}", title_justify="left", show_lines=False)
    for name, kw in (
        ("", {"style": "dim"}),
        ("metric", {}),
        ("value", {"justify": "right"}),
        ("ratio", {"justify": "right"}),
        ("note", {"style": "dim", "overflow": "fold"}),
    ):
        table.add_column(name, **kw)
    section = None
    for r in result.rows:
        shown = r.section if r.section != section else ""
        if r.section != section and section is not None:
            table.add_section()
        section = r.section
        table.add_row(shown, r.metric, fmt(r.value, r.unit), fmt_ratio(r.ratio, r.ratio_to), r.note)
    console.print(table)
    if result.targets:
        targets = Table(title="targets (issue 5)", title_justify="left")
        targets.add_column("target")
        targets.add_column("figure", justify="right")
        targets.add_column("status")
        targets.add_column("detail", style="dim", overflow="fold")
        colour = {MET: "green", NOT_MET: "red", NOT_MEASURED: "yellow"}
        for t in result.targets:
            status = t.status if t.status != NOT_MEASURED or not t.reason else f"{NOT_MEASURED}: {t.reason}"
            targets.add_row(
                t.name,
                fmt(t.figure, t.unit),
                f"[{colour[t.status]}]{status}[/]",
                t.detail,
            )
        console.print(targets)
    for note in result.notes:
        console.print(f"[dim]note:[/] {note}")
    for plot in result.plots:
        console.print(f"[dim]plot:[/] {plot}")
    if result.error:
        console.print(f"[red]error:[/] {result.error}")
