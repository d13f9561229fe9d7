"""`provision serve`: the web view of the project's environments and runs."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from provisioner.cli.output import stdout
from provisioner.cli.specs import environments_dir
from provisioner.cli.watch_cmd import CronOption, EveryOption, NotifyOption, RemediateOption
from provisioner.paths import StatePaths
from provisioner.web.access import TOKEN_ENV, Access


def serve(
    host: Annotated[str, typer.Option("--host", help="The address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The port to listen on.")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help=f"Required on every request; needed to bind anything but loopback "
            f"(or set {TOKEN_ENV}).",
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Also check every environment for drift on a schedule, as `provision watch` "
            "does (with --every or --cron, --remediate, --notify).",
        ),
    ] = False,
    every: EveryOption = None,
    cron: CronOption = None,
    remediate: RemediateOption = False,
    notify: NotifyOption = None,
) -> None:
    """Serve a read-only web view: environments (last run, drift, resources, hosts, lock),
    their graphs, hosts and drift; runs (filterable, live while they run); and the same
    as JSON under /api/.

    It binds 127.0.0.1 unless told otherwise; any other address needs a token. With
    --watch, the same process runs the drift schedule.
    """
    access = Access.checked(host, token or os.environ.get(TOKEN_ENV))
    # The web framework, its server and the scheduler are imported here, not by every command.
    import uvicorn

    from provisioner.cli.watch_jobs import WatchJobs, in_background
    from provisioner.web.app import create_app
    from provisioner.web.overview import Project

    project = Project(environments_dir(), StatePaths.discover())
    jobs = (
        WatchJobs.of(None, every=every, cron=cron, remediate=remediate, notify=notify)
        if watch
        else None
    )
    stdout.print(f"Serving the project on http://{host}:{port}/ (Ctrl-C stops it)")
    scheduler = in_background(jobs) if jobs is not None else None
    if jobs is not None:
        stdout.print(f"Watching {', '.join(jobs.names)}")
    try:
        uvicorn.run(create_app(project, access), host=host, port=port, log_level="warning")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
