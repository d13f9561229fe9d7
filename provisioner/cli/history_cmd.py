"""`provision history | show | unlock`: past runs, one run in detail, and the run lock."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from provisioner.cli.options import CloudOption, EnvArgument, JsonFlag
from provisioner.cli.output import print_json, stdout
from provisioner.cli.wiring import ProjectSetup
from provisioner.engine.run_record import EVENTS_FILE, SEVERAL, find_run, list_runs
from provisioner.paths import StatePaths


def history(
    environment: Annotated[
        str | None,
        typer.Argument(
            metavar="[ENV]",
            help="An environment's name; without it, the runs over several environments.",
        ),
    ] = None,
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many runs.")] = 20,
) -> None:
    """List an environment's recorded runs (plan, up, down, drift), newest first.

    Without ENV, the runs over several environments (`up --all`, `plan dev --with-deps`,
    ...): one record each, whose `show` lists each environment's own run.
    """
    runs = list_runs(StatePaths.discover().runs_root, environment or SEVERAL)[:limit]
    if as_json:
        print_json([run.summary_json() for run in runs])
        return
    if not runs:
        what = escape(environment) if environment else "several environments"
        stdout.print(f"No runs recorded for {what}.")
        return
    for run in runs:
        seconds = "" if run.seconds is None else f"{run.seconds:.1f}s"
        started = run.info.started_at[:19].replace("T", " ")
        stdout.print(
            f"{escape(run.id)}  {escape(run.observed_outcome().value):<11} {started}  "
            f"{seconds:>7}  {escape(' '.join(run.info.command))}",
            soft_wrap=True,
        )


def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A run id (or a unique prefix).")],
    as_json: JsonFlag = False,
) -> None:
    """Print one recorded run: who ran what, the outcome, and each node's timings."""
    record = find_run(StatePaths.discover().runs_root, run_id)
    if as_json:
        print_json({**record.to_json(), "folder": str(record.folder)})
        return
    info = record.info
    stdout.print(
        f"[bold]{escape(info.id)}[/]  {escape(' '.join(info.command))}\n"
        f"  outcome: {escape(record.observed_outcome().value)}"
        + (f" ({escape(record.error)})" if record.error else "")
        + f"\n  by {escape(info.user)}@{escape(info.host)}"
        f" at {escape(info.started_at)}, commit {escape(str(info.git_commit))}"
        f"\n  events: {escape(str(record.folder / EVENTS_FILE))}"
    )
    if record.environments:
        parts = Table(box=None, header_style="bold")
        for column in ("environment", "outcome", "run", "seconds", "detail"):
            parts.add_column(column)
        for part in record.environments:
            parts.add_row(
                escape(part.environment),
                escape(part.outcome),
                escape(part.run or ""),
                f"{part.seconds:.1f}",
                escape(part.detail),
            )
        stdout.print(parts)
    if record.nodes:
        table = Table(box=None, header_style="bold")
        for column in ("node", "action", "result", "started", "seconds"):
            table.add_column(column)
        for address, node in sorted(record.nodes.items(), key=lambda item: item[1].started_at):
            table.add_row(
                escape(address),
                escape(node.action),
                escape(node.result.value),
                escape(node.started_at),
                "" if node.elapsed is None else f"{node.elapsed:.1f}",
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
    setup = ProjectSetup.of(environment, cloud)
    removed = setup.lock().force_unlock()
    name = setup.compiled.environment.name
    if removed is None:
        stdout.print(f"{escape(name)} was not locked.")
    else:
        stdout.print(f"Removed the lock of {escape(name)} held by {escape(removed.describe())}.")
