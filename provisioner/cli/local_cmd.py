"""`provision local ...`: start, stop and inspect the local cloud."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli.output import print_json, stdout
from provisioner.local.cgroups import CgroupVersion
from provisioner.local.control import LocalCloud, LocalCloudStatus
from provisioner.paths import StatePaths

app = typer.Typer(
    help="Run the local cloud: a moto server on 127.0.0.1 that plays the AWS API.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the status as JSON.")]


def _cloud() -> LocalCloud:
    return LocalCloud(StatePaths.discover().local)


def _render(status: LocalCloudStatus, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(status.to_json())
        return
    if status.stale_record_removed:
        stdout.print("[yellow]note:[/] removed the record of a daemon that is no longer running")
    if status.cgroups is CgroupVersion.NONE:
        stdout.print(
            "[yellow]note:[/] no writable cgroups (cpu and memory) on this machine: "
            "hosts run without their instance types' limits"
        )
    if status.running:
        stdout.print(f"local cloud {verb}: {status.endpoint} (pid {status.pid})")
    else:
        stdout.print(f"local cloud {verb}")


@app.command()
def start(as_json: JsonFlag = False) -> None:
    """Start the local cloud if it is not running, and wait until its API answers."""
    _render(_cloud().start(), as_json, "running")


@app.command()
def stop(as_json: JsonFlag = False) -> None:
    """Stop the local cloud started by `provision local start` (nothing else is touched)."""
    _render(_cloud().stop(), as_json, "stopped")


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Show whether the local cloud runs, and its endpoint."""
    current = _cloud().status()
    _render(current, as_json, "running" if current.running else "not running")
