"""Human-readable sync status: ``tessera status`` and the terminal view of ``tessera sync``.

Both read the status document (:meth:`client.sync.status.SyncStatus.to_json`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from client.sync.status import (
    IDLE,
    OFFLINE,
    PULLING,
    SCANNING,
    SERVER_ERROR,
    SIGNED_OUT,
    STARTING,
    STOPPED,
    SYNCING,
    UNREACHABLE,
    WAITING,
)

from .output import human_size, local_time

if TYPE_CHECKING:
    from rich.console import RenderableType

_PHASES = {
    STARTING: "starting",
    SCANNING: "scanning the folder",
    PULLING: "fetching changes",
    SYNCING: "syncing",
    IDLE: "up to date",
    WAITING: "waiting to retry failed changes",
    OFFLINE: "offline (cannot reach the server)",
    STOPPED: "stopped",
}
_VERBS = {"hash": "hashing", "upload": "uploading", "download": "downloading"}
#: paths shown per list in the human output
SHOWN = 5


def phase_text(doc: dict[str, Any], running: bool) -> str:
    """What the daemon is doing; the state of its link to the server first when that is not up."""
    link = doc.get("connection") or {}
    state = link.get("state")
    if state == SIGNED_OUT:
        return "signed out: run `tessera login`, then `tessera sync` again"
    if not running:
        return "not running"
    if state == UNREACHABLE:
        return f"offline: cannot reach the server since {local_time(link.get('since'))}"
    if state == SERVER_ERROR:
        return f"server error since {local_time(link.get('since'))}: {link.get('message')} ({link.get('code')})"
    return _PHASES.get(doc.get("phase", ""), str(doc.get("phase")))


_PLURALS = {"entry": "entries", "conflicted copy": "conflicted copies"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {_PLURALS.get(word, word + 's')}"


def _listed(label: str, paths_: list[str], count: int) -> list[str]:
    lines = [f"  {label}:"]
    lines += [f"    {p}" for p in paths_[:SHOWN]]
    if count > SHOWN:
        lines.append(f"    ... and {count - SHOWN} more")
    return lines


def _pct(done: int, total: int) -> str:
    return f"{100 * done // total}%" if total else "-"


def _notices(notices: list[dict[str, Any]]) -> list[str]:
    """What the daemon kept beside shared folders it may not write (the newest last)."""
    if not notices:
        return []
    lines = ["  kept beside shared folders:"]
    if len(notices) > SHOWN:
        lines.append(f"    ... {len(notices) - SHOWN} earlier")
    return lines + [f"    {n.get('message')}" for n in notices[-SHOWN:]]


def folder_status(doc: dict[str, Any], running: bool) -> str:
    """The multi-line ``tessera status`` text of one synced folder."""
    head = f"{doc.get('root')}: {phase_text(doc, running)}"
    if running:
        head += f" (pid {doc.get('pid')})"
    lines = [head]
    link = doc.get("connection") or {}
    if link.get("state") in (UNREACHABLE, SERVER_ERROR, SIGNED_OUT):
        lines.append(f"  server: {link.get('message')} ({link.get('code')})")
    lines.append(f"  last synced: {local_time(doc.get('last_sync'))}")
    pending = doc.get("pending") or {}
    up, down, other = pending.get("uploads", 0), pending.get("downloads", 0), pending.get("other", 0)
    if up or down or other:
        parts = []
        if up:
            parts.append(f"{_plural(up, 'file')} to upload")
        if down:
            parts.append(f"{_plural(down, 'file')} to download")
        if other:
            parts.append(f"{_plural(other, 'other change')}")
        lines.append("  pending: " + ", ".join(parts))
    for t in doc.get("transfers") or []:
        verb = _VERBS.get(
            t.get("phase", ""), "uploading" if t.get("direction") == "upload" else "downloading"
        )
        lines.append(
            f"  {verb} {t.get('path')}: {_pct(t.get('done', 0), t.get('total', 0))} of {human_size(t.get('total'))}"
        )
    elsewhere = doc.get("elsewhere") or {}
    if elsewhere.get("count"):
        lines += _listed("being uploaded elsewhere", elsewhere.get("paths", []), elsewhere["count"])
    conflicts = doc.get("conflicts") or {}
    if conflicts.get("count"):
        lines += _listed("conflicted copies", conflicts.get("paths", []), conflicts["count"])
    lines += _notices(doc.get("notices") or [])
    errors = doc.get("errors") or []
    if errors:
        lines.append("  errors:")
        for e in errors[:SHOWN]:
            when = "not retried" if e.get("permanent") else f"retry at {local_time(e.get('retry_at'))}"
            lines.append(f"    {e.get('path')}: {e.get('message')} ({e.get('code')}; {when})")
        if len(errors) > SHOWN:
            lines.append(f"    ... and {len(errors) - SHOWN} more")
    warnings = doc.get("warnings") or []
    if warnings:
        lines.append(
            f"  skipped: {_plural(len(warnings), 'entry')} (symlinks, special files, names the server refuses)"
        )
        lines += [f"    {w.get('path')}: {w.get('message')}" for w in warnings[:SHOWN]]
    last = doc.get("last_error")
    if last:
        where = f"{last.get('path')}: " if last.get("path") else ""
        lines.append(
            f"  last error: {where}{last.get('message')} ({last.get('code')}, {local_time(last.get('at'))})"
        )
    return "\n".join(lines)


def live_view(doc: dict[str, Any]) -> RenderableType:
    """The terminal view of a running ``tessera sync``: one summary line and a bar per transfer."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    pending = doc.get("pending") or {}
    summary = Text(f"{phase_text(doc, True)}", style="bold")
    if pending.get("uploads"):
        summary.append(f"  ↑ {pending['uploads']}")
    if pending.get("downloads"):
        summary.append(f"  ↓ {pending['downloads']}")
    conflicts = (doc.get("conflicts") or {}).get("count", 0)
    if conflicts:
        summary.append(f"  {_plural(conflicts, 'conflicted copy')}", style="yellow")
    errors = len(doc.get("errors") or [])
    if errors:
        summary.append(f"  {_plural(errors, 'error')}", style="red")
    grid = Table.grid(padding=(0, 1))
    grid.add_row(summary)
    if doc.get("transfers"):
        bars = Table.grid(padding=(0, 1))
        for t in doc["transfers"]:
            arrow = "↑" if t.get("direction") == "upload" else "↓"
            total = max(1, t.get("total", 0))
            hashing = " (hashing)" if t.get("phase") == "hash" else ""
            bars.add_row(
                f"  {arrow} {t.get('path')}{hashing}",
                ProgressBar(total=total, completed=min(total, t.get("done", 0)), width=30),
                f"{human_size(t.get('done', 0))} / {human_size(t.get('total', 0))}",
            )
        grid.add_row(bars)
    return grid
