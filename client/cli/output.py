"""Human-readable output of the CLI (``--json`` output is the models' ``to_json``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from protocol import paths
from protocol.messages.auth import Account
from protocol.messages.files import Metadata, Revisions
from protocol.messages.lifecycle import TrashEntry, UsageReport
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


def revisions(revs: Revisions, asked: str) -> str:
    """One line per version, newest first: its number, time, size, device and user, and where it
    was saved if not where the file is now; the current one marked; how to restore one."""
    state = "deleted; " if revs.deleted else ""
    n = len(revs.revisions)
    lines = [f"{revs.path} ({state}{n} version{'s' if n != 1 else ''})"]
    if paths.path_key(revs.path) != paths.path_key(asked):
        lines[0] += f"  (was {asked}: history follows the file)"
    width = max((len(str(r.version)) for r in revs.revisions), default=1)
    for r in revs.revisions:
        mark = "  (current)" if r.rev == revs.rev else ""
        where = f"  at {r.path}" if paths.path_key(r.path) != paths.path_key(revs.path) else ""
        who = f"  {r.user}" if r.user else ""
        lines.append(
            f"  version {r.version:>{width}}  {local_time(r.modified)}  {human_size(r.size):>9}  "
            f"{r.device or '-'}{who}{where}{mark}"
        )
    lines.append(f"Restore one with: tessera restore {revs.path} VERSION")
    return "\n".join(lines)


def trash_line(e: TrashEntry) -> str:
    """One thing in the trash: when it was deleted, from which device and by whom, its size, its path."""
    if e.kind == "folder":
        size = f"{e.files} file{'s' if e.files != 1 else ''}, {human_size(e.bytes)}" if e.item else "-"
        name = e.path + "/"
    else:
        size, name = human_size(e.size), e.path
    inside = "" if e.item else "  (deleted with the folder above)"
    by = f"{e.device or '-'}" + (f" ({e.user})" if e.user else "")
    return f"{local_time(e.deleted)}  {by:<24}  {size:>18}  {name}{inside}"


def trash_listing(path: str, found: list[TrashEntry]) -> str:
    if not found:
        return f"Nothing at or below {path} is in the trash."
    return "\n".join(trash_line(e) for e in found)


def deleted_in(path: str, found: list[TrashEntry]) -> str:
    """The history of a folder: what was deleted in it."""
    if not found:
        return f"{path} is a folder; nothing deleted in it is in the trash."
    head = f"{path} is a folder; deleted in it (newest first; bring one back: tessera trash restore PATH):"
    return "\n".join([head, *("  " + trash_line(e) for e in found)])


def usage(report: UsageReport, user: str, server: str) -> str:
    t = report.total
    quota = "no quota" if report.quota_bytes is None else f"quota {human_size(report.quota_bytes)}"
    return "\n".join([
        f"{user} on {server}",
        f"  current files   {human_size(t.current_bytes):>10}",
        f"  older versions  {human_size(t.version_bytes):>10}",
        f"  trash           {human_size(t.trash_bytes):>10}",
        f"stored {human_size(report.used_bytes)}, {quota} (each distinct block counts once: what the quota counts)",
        f"deleted files and replaced versions are kept {report.retention_days} days",
    ])  # fmt: skip


def account(acct: Account, server: str) -> str:
    quota = "no quota" if acct.quota_bytes is None else f"of {human_size(acct.quota_bytes)}"
    lines = [f"{acct.user} on {server} (device {acct.device})", f"used {human_size(acct.used_bytes)} {quota}"]
    if acct.current_bytes is not None:
        lines[-1] += (
            f" (current files {human_size(acct.current_bytes)}, older versions {human_size(acct.version_bytes)},"
            f" trash {human_size(acct.trash_bytes)})"
        )
    return "\n".join(lines)


def search_results(matches: list[SearchMatch], more: bool, limit: int) -> str:
    """One line per match, best first: size, modified time, path (a folder ends with '/')."""
    if not matches:
        return "No matches."
    rows = [
        (
            human_size(m.size) if m.kind == "file" else "-",
            local_time(m.modified),
            m.path + ("/" if m.kind == "folder" else "") + (f"  (deleted, id {m.trash_id})" if m.deleted else ""),
        )
        for m in matches
    ]
    w_size = max(len(r[0]) for r in rows)
    lines = [f"{size:>{w_size}}  {when:16}  {path}" for size, when, path in rows]
    if more:
        lines.append(f"(the best {limit} shown; --limit N for more)")
    return "\n".join(lines)
