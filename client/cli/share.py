"""``tessera share create|invite|ls|accept|decline|role|remove|leave|unshare``: shared folders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from protocol.messages.sharing import MEMBER_ROLES, ShareList

from .context import CliContext, json_option, pass_cli, remote_path, run_async

T = TypeVar("T")
role_choice = click.Choice(MEMBER_ROLES)


def _run(obj: CliContext, work: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        async with obj.authed_client() as client:
            return await work(client.shares)

    return run_async(go())


@click.group()
def share() -> None:
    """Shared folders: share one of yours, invite people, answer invitations."""


@share.command("create")
@click.argument("path")
@json_option
@pass_cli
def share_create(obj: CliContext, path: str) -> None:
    """Share the folder PATH (nothing is uploaded again); then invite people to it."""
    where = _run(obj, lambda s: s.create(remote_path(path)))
    obj.emit({"path": where}, f"Shared {where}; invite people with `tessera share invite {where} USER`")


@share.command("invite")
@click.argument("path")
@click.argument("user")
@click.option("--role", type=role_choice, default="editor", show_default=True, help="What USER may do.")
@json_option
@pass_cli
def share_invite(obj: CliContext, path: str, user: str, role: str) -> None:
    """Invite USER to the shared folder PATH (they accept with `tessera share accept ID`)."""
    inv = _run(obj, lambda s: s.invite(remote_path(path), user, role))
    obj.emit(inv.to_wire(), f"Invited {inv.invitee} to {inv.share} as {inv.role} (invitation {inv.id})")


@share.command("ls")
@json_option
@pass_cli
def share_ls(obj: CliContext) -> None:
    """List your shared folders (members, roles, pending invitations) and invitations to you."""
    found = _run(obj, lambda s: s.listing())
    obj.emit(found.to_wire(), _listing(found))


def _listing(found: ShareList) -> str:
    lines = []
    for s in found.shares:
        lines.append(f"{s.path}  ({s.role}; owner {s.owner})")
        lines += [f"    {m.user}  {m.role}" for m in s.members]
        lines += [f"    {i.invitee}  {i.role}  (invited, #{i.id})" for i in s.invitations]
    if found.invitations:
        lines.append("Invitations to you:")
        lines += [f"    #{i.id}  {i.share}  from {i.inviter}  as {i.role}" for i in found.invitations]
    return "\n".join(lines) if lines else "No shared folders and no invitations."


@share.command("accept")
@click.argument("invitation_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--at", "at", help="Where to mount it in your tree (default /NAME; ' (2)' if taken).")
@json_option
@pass_cli
def share_accept(obj: CliContext, invitation_id: int, at: str | None) -> None:
    """Accept the invitation ID (as `tessera share ls` lists it)."""
    where = _run(obj, lambda s: s.accept(invitation_id, remote_path(at) if at else None))
    obj.emit({"id": invitation_id, "path": where}, f"Joined: the shared folder is at {where}")


@share.command("decline")
@click.argument("invitation_id", metavar="ID", type=click.IntRange(min=1))
@json_option
@pass_cli
def share_decline(obj: CliContext, invitation_id: int) -> None:
    """Decline the invitation ID."""
    _run(obj, lambda s: s.decline(invitation_id))
    obj.emit({"id": invitation_id, "declined": True}, f"Declined invitation {invitation_id}")


@share.command("role")
@click.argument("path")
@click.argument("user")
@click.argument("role", type=role_choice)
@json_option
@pass_cli
def share_role(obj: CliContext, path: str, user: str, role: str) -> None:
    """Give USER the ROLE (editor or viewer) in the shared folder PATH (the owner only)."""
    path = remote_path(path)
    _run(obj, lambda s: s.set_role(path, user, role))
    obj.emit({"path": path, "user": user, "role": role}, f"{user} is now {role} of {path}")


@share.command("remove")
@click.argument("path")
@click.argument("user")
@json_option
@pass_cli
def share_remove(obj: CliContext, path: str, user: str) -> None:
    """Remove USER from the shared folder PATH (the owner only); it leaves their tree at once."""
    path = remote_path(path)
    _run(obj, lambda s: s.remove(path, user))
    obj.emit({"path": path, "user": user, "removed": True}, f"Removed {user} from {path}")


@share.command("leave")
@click.argument("path")
@json_option
@pass_cli
def share_leave(obj: CliContext, path: str) -> None:
    """Leave the shared folder PATH: it leaves your tree (the others keep it)."""
    path = remote_path(path)
    _run(obj, lambda s: s.leave(path))
    obj.emit({"path": path, "left": True}, f"Left {path}")


@share.command("unshare")
@click.argument("path")
@json_option
@pass_cli
def share_unshare(obj: CliContext, path: str) -> None:
    """Stop sharing PATH (the owner only): you keep it as an ordinary folder, members lose it."""
    where = _run(obj, lambda s: s.unshare(remote_path(path)))
    obj.emit({"path": where}, f"Unshared: {where} is an ordinary folder of yours again")
