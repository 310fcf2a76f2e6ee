"""``python -m bench SCENARIO``: Tessera's benchmark harness (issue 5).

    python -m bench list                 # the scenarios
    python -m bench large --size 256M    # one scenario
    python -m bench large --size 10G     # the constant-memory check (long: minutes)
    python -m bench all                  # the standard suite (`make bench`), ~10 min on 2 cores

Each run starts its own servers on 127.0.0.1 (embedded PostgreSQL unless
DATABASE_URL is set; blocks on local disk, on moto's S3 with --s3, or on an
S3-compatible service with --s3-endpoint URL --s3-bucket NAME), prints tables,
and writes a JSON document and PNG plots to bench/out/.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import psutil
from rich.console import Console

from protocol.errors import TesseraError
from protocol.units import parse_size

from . import scenarios, trash
from .context import BenchContext
from .machine import machine_info
from .report import ScenarioResult, Target, print_result, write_json
from .s3_target import S3Target, S3Unusable

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
log = logging.getLogger("bench")


def _sizes(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[int] | None:
    out = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    out.append(parse_size(part))
                except TesseraError as e:
                    raise click.BadParameter(e.message) from None
    return out or None


def _ints(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(v.replace("_", "")) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"not a comma-separated list of integers: {value!r}") from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scenario", type=click.Choice(["all", "list", *scenarios.SCENARIOS, *scenarios.PENDING]))
@click.option("--size", "sizes", multiple=True, callback=_sizes, metavar="SIZE[,SIZE]",
              help="File size(s), e.g. 256M,1G or 10G (large: the sizes; delta: the base file; propagation: the big file).")
@click.option("--repeat", type=click.IntRange(1, 100), help="Repeats per measurement (default: per scenario).")
@click.option("--count", type=click.IntRange(1, 1_000_000), help="Files / commits (small, commits, propagation).")
@click.option("--clients", type=click.IntRange(1, 1024), help="Concurrent clients (commits, small).")
@click.option("--duration", type=click.FloatRange(1, 3600), help="Time bound in seconds (commits).")
@click.option("--polls", callback=_ints, metavar="N[,N]", help="Held long-polls (longpoll), e.g. 1000,10000.")
@click.option("--s3", is_flag=True, help="Keep blocks in S3 on moto's server (127.0.0.1) instead of local disk.")
@click.option("--s3-endpoint", metavar="URL",
              help="Keep blocks on this S3-compatible service instead (credentials: TESSERA_S3_ACCESS_KEY and "
                   "TESSERA_S3_SECRET_KEY, else the AWS chain); each stack's objects are removed when it stops.")
@click.option("--s3-bucket", metavar="NAME", help="The bucket at --s3-endpoint (it must exist).")
@click.option("--s3-region", default="us-east-1", show_default=True, help="The region at --s3-endpoint.")
@click.option("--no-cli", is_flag=True, help="large: skip the `tessera` CLI runs (library only).")
@click.option("--no-peers", is_flag=True, help="Skip rclone / Syncthing even where installed.")
@click.option("--no-plots", is_flag=True, help="Write no PNG plots.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON document here (default: bench/out/<stamp>-<scenario>.json).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True, help="Where JSON and plots go.")
@click.option("--work-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Where temp files go (test data, server data) [default: the system temp dir].")
@click.option("-v", "--verbose", count=True, help="Log more (-vv: debug).")
def main(scenario: str, sizes: list[int] | None, repeat: int | None, count: int | None, clients: int | None,
         duration: float | None, polls: list[int] | None, s3: bool, s3_endpoint: str | None,
         s3_bucket: str | None, s3_region: str, no_cli: bool, no_peers: bool,
         no_plots: bool, json_path: Path | None, out_dir: Path, work_dir: Path | None,
         verbose: int) -> None:  # fmt: skip
    """Run one benchmark SCENARIO, `all` (the standard suite) or `list`."""
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    console = Console(width=None if sys.stdout.isatty() else 150)
    if scenario == "list":
        for name, what in scenarios.SCENARIOS.items():
            console.print(f"[bold]{name:12}[/] {what}")
        for name, why in scenarios.PENDING.items():
            console.print(f"[bold]{name:12}[/] [yellow]{why}[/]")
        return
    s3_target = _s3_target(s3, s3_endpoint, s3_bucket, s3_region)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ctx = BenchContext(
        out_dir=out_dir.resolve(),
        work_dir=work_dir.resolve() if work_dir else None,
        stamp=stamp,
        console=console,
        sizes=sizes,
        repeat=repeat,
        count=count,
        clients=clients,
        duration=duration,
        polls=polls,
        s3=s3 or s3_target is not None,
        s3_target=s3_target,
        cli=not no_cli,
        peers=not no_peers,
        draw=not no_plots,
        database_url=os.environ.get("DATABASE_URL") or None,
    )
    names = list(scenarios.SUITE) + list(scenarios.PENDING) if scenario == "all" else [scenario]
    doc: dict[str, Any] = {
        "harness": "tessera bench",
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "machine": machine_info(),
        "options": {
            "s3": ctx.s3, "s3_endpoint": s3_endpoint or ("moto" if s3 else None), "s3_bucket": s3_bucket,
            "cli": not no_cli, "peers": not no_peers,
            "database": "DATABASE_URL" if ctx.database_url else "embedded PostgreSQL",
        },
        "scenarios": [],
    }  # fmt: skip
    path = json_path or ctx.out_dir / f"{stamp}-{scenario}.json"
    try:
        failed = _run_loop(_run_all(ctx, names, doc, path))
    finally:
        trash.empty()  # the temp trees whose removal was held back until the run's end (bench/trash.py)
    console.print(f"[dim]JSON:[/] {path}")
    sys.exit(1 if failed else 0)


def _s3_target(moto: bool, endpoint: str | None, bucket: str | None, region: str) -> S3Target | None:
    """The user's S3 service, checked writable; None for local disk or moto. Errors end the run at once."""
    if not endpoint:
        if bucket:
            raise click.UsageError("--s3-bucket needs --s3-endpoint")
        return None
    if moto:
        raise click.UsageError("--s3 (moto's server) and --s3-endpoint exclude each other")
    if not bucket:
        raise click.UsageError("--s3-endpoint needs --s3-bucket")
    target = S3Target.external(endpoint, bucket, region)
    try:
        target.check()
    except S3Unusable as e:
        raise click.ClickException(f"cannot use S3: {e}") from None
    return target


def _run_loop(coro: Any) -> bool:
    """Run the suite on uvloop (as the servers and the CLI do) where installed; SIGTERM cancels it."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        loop = runner.get_loop()
        task = loop.create_task(coro)
        # SIGTERM cancels the run like Ctrl-C does, so every server is stopped and every temp dir removed
        previous = signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(task.cancel))
        try:
            return runner.run(_await(task))
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("bench: interrupted; servers stopped and temp files removed", file=sys.stderr)
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)


async def _await(task: asyncio.Task[bool]) -> bool:
    return await task


async def _run_all(ctx: BenchContext, names: list[str], doc: dict[str, Any], path: Path) -> bool:
    failed = False
    for name in names:
        if name in scenarios.PENDING:
            result = pending_result(name)
        else:
            ctx.console.rule(f"[bold]{name}[/]: {scenarios.SCENARIOS[name]}")
            result = await _run_one(ctx, name)
            failed |= result.error is not None
        print_result(ctx.console, result)
        doc["scenarios"].append(result.to_json())
        doc["machine"]["load_average_after"] = list(os.getloadavg())
        doc["machine"]["ram_free_bytes_after"] = psutil.virtual_memory().free
        write_json(path, doc)  # after every scenario: a failure later keeps what was measured
    return failed


async def _run_one(ctx: BenchContext, name: str) -> ScenarioResult:
    t = time.perf_counter()
    try:
        result = await scenarios.runner(name)(ctx)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # one scenario failing must not lose the others
        log.debug("scenario %s failed", name, exc_info=True)
        result = ScenarioResult(name, error=f"{type(e).__name__}: {e}")
    result.duration_s = time.perf_counter() - t
    return result


def pending_result(name: str) -> ScenarioResult:
    why = scenarios.PENDING[name]
    result = ScenarioResult(name)
    result.row(name, "status", why)
    for target in scenarios.PENDING_TARGETS.get(name, ()):
        result.targets.append(Target(target, None, "<=", 1.0, reason=why.split(":")[0]))
    return result


if __name__ == "__main__":
    main()
