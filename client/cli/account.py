"""``tessera devices`` and ``tessera passwd``: the devices signed in to the account, and its password."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .context import CliContext, json_option, pass_cli, run_async
from .output import local_time

if TYPE_CHECKING:
    from protocol.messages.auth import Device


def _devices_table(devices: list[Device]) -> str:
    rows = [("ID", "NAME", "CREATED", "LAST USED", "")] + [
        (str(d.id), d.name, local_time(d.created), local_time(d.last_used), "(this device)" if d.current else "")
        for d in devices
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}".rstrip()
        for r in rows
    )


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def devices(ctx: click.Context) -> None:
    """List the devices signed in to your account (`tessera devices revoke ID` signs one out)."""
    if ctx.invoked_subcommand is not None:
        return
    obj = ctx.find_object(CliContext)
    assert obj is not None

    async def go() -> list[Device]:
        async with obj.authed_client() as client:
            return await client.devices()

    found = run_async(go())
    obj.emit({"devices": [d.to_json() for d in found]}, _devices_table(found))


@devices.command("revoke")
@click.argument("device_id", metavar="ID", type=click.IntRange(min=1))
@json_option
@pass_cli
def revoke(obj: CliContext, device_id: int) -> None:
    """Sign a device out at once (its syncing and long-polls stop; it must log in again)."""

    async def go() -> Device | None:
        async with obj.authed_client() as client:
            target = next((d for d in await client.devices() if d.id == device_id), None)
            if target is not None and target.current:
                raise click.UsageError("that is this device: use `tessera logout`")
            await client.revoke_device(device_id)
            return target

    target = run_async(go())
    name = f" ({target.name})" if target is not None else ""
    obj.emit({"revoked": device_id}, f"Signed out device {device_id}{name}.")


def _read_passwords(password_stdin: bool) -> tuple[str, str]:
    if password_stdin:
        old = sys.stdin.readline().rstrip("\r\n")
        new = sys.stdin.readline().rstrip("\r\n")
        if not old or not new:
            raise click.UsageError("--password-stdin: give the old password and the new one, one line each")
        return old, new
    old = click.prompt("Current password", hide_input=True, err=True)
    new = click.prompt("New password", hide_input=True, confirmation_prompt="Repeat the new password", err=True)
    return old, new


@click.command()
@click.option(
    "--password-stdin", is_flag=True, help="Read the current password, then the new one, one line each from stdin."
)
@click.option("--sign-out-others", is_flag=True, help="Sign out every other device of the account.")
@json_option
@pass_cli
def passwd(obj: CliContext, password_stdin: bool, sign_out_others: bool) -> None:
    """Change your password (the current one is required)."""

    old, new = _read_passwords(password_stdin)

    async def go() -> int:
        async with obj.authed_client() as client:
            return await client.change_password(old, new, sign_out_others=sign_out_others)

    signed_out = run_async(go())
    others = f" {signed_out} other device(s) signed out." if sign_out_others else ""
    obj.emit({"changed": True, "signed_out": signed_out}, f"Password changed.{others}")
