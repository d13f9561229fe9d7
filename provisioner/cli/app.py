"""The `provision` command."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer

from provisioner import __version__
from provisioner.cli import (
    graph_cmd,
    history_cmd,
    lifecycle_cmd,
    local_cmd,
    serve_cmd,
    ssh_cmd,
    watch_cmd,
)
from provisioner.cli.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    report_expected,
    report_unexpected,
)
from provisioner.cli.output import stderr
from provisioner.errors import ProvisionError

app = typer.Typer(
    name="provision",
    help=(
        "Provision environments: compile a spec into a dependency graph, create the cloud "
        "resources with Pulumi and configure the hosts with Ansible.\n\n"
        "Exit codes: 0 success, 1 error, 2 changes present (plan --detailed-exitcode, drift), "
        "130 interrupted."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(graph_cmd.validate)
app.command()(graph_cmd.graph)
app.command()(lifecycle_cmd.plan)
app.command()(lifecycle_cmd.up)
app.command()(lifecycle_cmd.down)
app.command()(lifecycle_cmd.drift)
app.command()(lifecycle_cmd.output)
app.command()(ssh_cmd.ssh)
app.command()(history_cmd.history)
app.command()(history_cmd.show)
app.command()(history_cmd.unlock)
app.command()(serve_cmd.serve)
app.command()(watch_cmd.watch)
app.add_typer(local_cmd.app, name="local")


def _version(value: bool) -> None:
    if value:
        print(f"provision {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Provision environments described by specs in environments/."""


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; only this function turns errors into messages and exit codes."""
    # SIGTERM (a CI job cancelled, `kill`) stops a run the way Ctrl-C does: with a rollback.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # Not standalone: typer returns the code of a typer.Exit (--help, --version, a
        # command's own exit code) and raises everything else here.
        result = app(args=argv, prog_name="provision", standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except typer.TyperException as usage:
        # A usage mistake (unknown command or option, missing argument). typer vendors
        # click as `typer._click`, whose exceptions all derive from TyperException;
        # `show()` prints the command's usage, a --help hint and the problem, as click
        # does. The exit code is 1, not click's 2: 2 means "changes present" here.
        usage.show()  # type: ignore[attr-defined]
        return EXIT_ERROR
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("interrupted")
        return EXIT_INTERRUPTED
    except ProvisionError as error:
        return report_expected(error)
    except Exception as error:
        return report_unexpected(error)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
