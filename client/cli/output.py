"""Human-readable output of the CLI (``--json`` output is the models' ``to_json``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from protocol.messages.auth import Account
from protocol.messages.files import Metadata, Revisions
from protocol.messages.search import SearchMatch

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def local_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


def display_name(entry: Metadata) -> str:
    return entry.name + "/" if entry.is_folder else entry.name


def listing(entries: Iterable[Metadata], long: bool) -> str:
    entries = list(entries)
    if not long:
        return "\n".join(display_name(e) for e in entries)
    rows = [
        (
            human_size(e.size) if e.is_file else "-",
            local_time(e.modified),
            str(e.rev) if e.rev is not None else "-",
            display_name(e),
        )
        for e in entries
    ]
    if not rows:
        return ""
    w_size = max(len(r[0]) for r in rows)
    w_rev = max(len(r[2]) for r in rows)
    return "\n".join(f"{s:>{w_size}}  {t:16}  {rev:>{w_rev}}  {name}" for s, t, rev, name in rows)


def info(entry: Metadata) -> str:
    lines = [f"path:          {entry.path}", f"kind:          {entry.kind}"]
    if entry.is_file:
        lines += [
            f"size:          {entry.size} bytes ({human_size(entry.size)})",
            f"rev:           {entry.rev}",
            f"content hash:  {entry.content_hash}",
            f"modified:      {local_time(entry.modified)}",
            f"device:        {entry.device or '-'}",
        ]
    return "\n".join(lines)


def revisions(revs: Revisions) -> str:
    """One line per revision, newest first: rev, time, size, device; the current one marked."""
    state = "deleted; " if revs.deleted else ""
    lines = [f"{revs.path} ({state}{len(revs.revisions)} revision{'s' if len(revs.revisions) != 1 else ''})"]
    width = max(len(str(r.rev)) for r in revs.revisions)
    for r in revs.revisions:
        mark = "  (current)" if r.rev == revs.rev else ""
        lines.append(f"  rev {r.rev:>{width}}  {local_time(r.modified)}  {human_size(r.size):>9}  {r.device or '-'}{mark}")
    return "\n".join(lines)


def account(acct: Account, server: str) -> str:
    quota = "no quota" if acct.quota_bytes is None else f"of {human_size(acct.quota_bytes)}"
    return f"{acct.user} on {server} (device {acct.device})\nused {human_size(acct.used_bytes)} {quota}"


def search_results(matches: list[SearchMatch], more: bool, limit: int) -> str:
    """One line per match, best first: size, modified time, path (a folder ends with '/')."""
    if not matches:
        return "No matches."
    rows = [
        (
            human_size(m.size) if m.kind == "file" else "-",
            local_time(m.modified),
            m.path + ("/" if m.kind == "folder" else "") + ("  (deleted)" if m.deleted else ""),
        )
        for m in matches
    ]
    w_size = max(len(r[0]) for r in rows)
    lines = [f"{size:>{w_size}}  {when:16}  {path}" for size, when, path in rows]
    if more:
        lines.append(f"(the best {limit} shown; --limit N for more)")
    return "\n".join(lines)
