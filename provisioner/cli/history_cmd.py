"""`provision history | show | unlock`: past runs, one run in detail, and the run lock."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from provisioner.cli.lifecycle_cmd import CloudOption, EnvArgument, JsonFlag, cloud_value
from provisioner.cli.output import print_json, stdout
from provisioner.cli.wiring import compile_for, environment_lock
from provisioner.engine.history import find_run, list_runs, summarize
from provisioner.paths import StatePaths


def history(
    environment: Annotated[str, typer.Argument(metavar="ENV", help="An environment's name.")],
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many runs.")] = 20,
) -> None:
    """List an environment's recorded runs (plan, up, down, drift), newest first."""
    runs = [summarize(run) for run in list_runs(StatePaths.discover().root / "runs", environment)]
    runs = runs[:limit]
    if as_json:
        print_json(runs)
        return
    if not runs:
        stdout.print(f"No runs recorded for {escape(environment)}.")
        return
    for run in runs:
        seconds = "" if run["seconds"] is None else f"{run['seconds']:.1f}s"
        started = str(run["started_at"] or "")[:19].replace("T", " ")
        stdout.print(
            f"{escape(str(run['id']))}  {escape(str(run['outcome'])):<11} {started}  "
            f"{seconds:>7}  {escape(run['command'])}",
            soft_wrap=True,
        )


def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id (or a unique prefix).")],
    as_json: JsonFlag = False,
) -> None:
    """Print one recorded run: who ran what, the outcome, and each node's timings."""
    record, folder = find_run(StatePaths.discover().root / "runs", run_id)
    if as_json:
        print_json({**record, "folder": str(folder)})
        return
    summary = summarize(record)
    stdout.print(
        f"[bold]{escape(str(summary['id']))}[/]  {escape(summary['command'])}\n"
        f"  outcome: {escape(str(summary['outcome']))}"
        + (f" ({escape(str(summary['error']))})" if summary["error"] else "")
        + f"\n  by {escape(str(summary['user']))}@{escape(str(summary['host']))}"
        f" at {escape(str(summary['started_at']))}, commit {escape(str(record.get('git_commit')))}"
        f"\n  events: {escape(str(folder / 'events.jsonl'))}"
    )
    nodes: dict[str, Any] = record.get("nodes") or {}
    if nodes:
        table = Table(box=None, header_style="bold")
        for column in ("node", "action", "result", "started", "seconds"):
            table.add_column(column)
        for address, node in sorted(nodes.items(), key=lambda item: str(item[1]["started_at"])):
            table.add_row(
                escape(address),
                escape(str(node["action"])),
                escape(str(node["result"])),
                escape(str(node["started_at"])),
                "" if node.get("elapsed") is None else f"{node['elapsed']:.1f}",
            )
        stdout.print(table)


def unlock(
    environment: EnvArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Required: remove the lock whoever holds it.")
    ] = False,
    cloud: CloudOption = None,
) -> None:
    """Remove an environment's run lock, left by a run that can no longer release it."""
    if not force:
        raise typer.BadParameter("unlocking needs --force", param_hint="--force")
    compiled = compile_for(environment, cloud_value(cloud))
    removed = environment_lock(compiled, StatePaths.discover()).force_unlock()
    name = compiled.environment.name
    if removed is None:
        stdout.print(f"{escape(name)} was not locked.")
    else:
        stdout.print(f"Removed the lock of {escape(name)} held by {escape(removed.describe())}.")
