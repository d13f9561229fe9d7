"""`provision watch`: drift on a schedule, optionally put back, optionally posted.

The scheduling is in `watch_jobs`, imported when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

EveryOption = Annotated[
    str | None,
    typer.Option("--every", help="How often: seconds, or a text like 90s, 10m, 1h (default 1h)."),
]
CronOption = Annotated[
    str | None, typer.Option("--cron", help="A crontab schedule instead of --every.")
]
RemediateOption = Annotated[
    bool,
    typer.Option(
        "--remediate",
        help="Put drift back with `up`, only if the spec is the one last applied and the "
        "plan holds updates only; otherwise record `needs review`.",
    ),
]
NotifyOption = Annotated[
    str | None,
    typer.Option("--notify", help="POST a JSON event here on drift, remediation or failure."),
]


def watch(
    environments: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ENV]...", help="Environments to watch (default: every one)."),
    ] = None,
    every: EveryOption = None,
    cron: CronOption = None,
    remediate: RemediateOption = False,
    notify: NotifyOption = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="One tick of each environment, then exit 0, 2 (drift) or 1."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per tick.")] = False,
) -> None:
    """Check environments for drift on a schedule; with --remediate, put it back.

    Each tick runs `drift` (recorded in the history, as is a remediating `up`) and is
    itself recorded (`provision serve` shows them). An environment whose lock is held
    is skipped for that tick, naming who holds it; a failed check is shown as failed
    and tried again at the next tick.
    """
    from provisioner.cli.watch_jobs import WatchJobs, run_blocking

    jobs = WatchJobs.of(
        environments, every=every, cron=cron, remediate=remediate, notify=notify, as_json=as_json
    )
    if once:
        code = jobs.once()
        if code:
            raise typer.Exit(code)
        return
    run_blocking(jobs)
