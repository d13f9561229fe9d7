"""`provision serve`: the web view of the project's environments and runs."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from provisioner.cli.output import stdout
from provisioner.cli.specs import environments_dir
from provisioner.paths import StatePaths
from provisioner.web.access import TOKEN_ENV, Access
from provisioner.web.app import create_app
from provisioner.web.overview import Project


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
) -> None:
    """Serve a read-only web view: environments (last run, drift, resources, hosts, lock),
    runs (filterable), and the same as JSON under /api/.

    It binds 127.0.0.1 unless told otherwise; any other address needs a token.
    """
    access = Access.checked(host, token or os.environ.get(TOKEN_ENV))
    project = Project(environments_dir(), StatePaths.discover())
    stdout.print(f"Serving the project on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(create_app(project, access), host=host, port=port, log_level="warning")
