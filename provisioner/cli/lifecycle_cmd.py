"""`provision plan | up | down | drift | output`: an environment's lifecycle."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from provisioner.cli.errors import EXIT_CHANGES
from provisioner.cli.output import print_json, stderr, stdout
from provisioner.cli.plan_view import render_drift, render_plan, summary_line
from provisioner.cli.progress import ProgressSink
from provisioner.cli.wiring import compile_for, nothing_recorded, open_session
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.engine.events import NullSink
from provisioner.engine.ports import EnvironmentOutputs
from provisioner.engine.saved_plan import SavedPlan
from provisioner.errors import ConfirmationError
from provisioner.plan import Plan


class CloudChoice(StrEnum):
    LOCAL = "local"
    AWS = "aws"


EnvArgument = Annotated[
    str, typer.Argument(metavar="ENV", help="A name in environments/ or a path to a YAML file.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CloudOption = Annotated[
    CloudChoice | None,
    typer.Option(
        "--cloud",
        help="Run on this cloud instead of the spec's (`local` tries staging or prod here).",
    ),
]
YesFlag = Annotated[
    bool, typer.Option("--yes", "-y", help="Apply without asking (required without a terminal).")
]


ParallelismOption = Annotated[
    int,
    typer.Option(
        "--parallelism",
        min=1,
        metavar="N",
        help="Run at most N cloud operations (and configure at most N hosts) at once.",
    ),
]
NoHostsFlag = Annotated[
    bool,
    typer.Option("--no-hosts", help="The cloud only; skip Ansible's check mode on existing VMs."),
]


def plan(
    environment: EnvArgument,
    as_json: JsonFlag = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 0 for no changes, 2 for changes, 1 for an error."
        ),
    ] = False,
    cloud: CloudOption = None,
    no_hosts: NoHostsFlag = False,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="PLAN",
            help="Save the plan to this file, for `up --plan` (holds the environment's lock).",
        ),
    ] = None,
) -> None:
    """Show what `up` would change: each cloud resource's properties, each host's tasks.

    Cloud resources are compared with the live cloud; software on VMs that exist
    is compared with Ansible's check mode, with file diffs. Exit 0 (or, with
    --detailed-exitcode, 0 for no changes and 2 for changes), 1 on error.
    """
    session = open_session(
        compile_for(environment, cloud_value(cloud)), NullSink(), parallelism=parallelism
    )
    with session.recorded(lock=out is not None) as record:
        with _status(f"planning {session.compiled.environment.name}", as_json):
            result = session.orchestrator.plan(hosts=not no_hosts)
        record.plan = result
        if out is not None:
            SavedPlan.of(session.compiled, session.orchestrator.cloud.fingerprint(), result).write(
                out
            )
    if as_json:
        print_json({**result.to_json(), "run": session.run_dir.name})
    else:
        render_plan(result, stdout)
        if out is not None:
            stdout.print(f"Saved the plan to {escape(str(out))}; apply it with `up --plan`.")
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(EXIT_CHANGES)


def up(
    environment: EnvArgument,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
    cloud: CloudOption = None,
    saved: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="PLAN",
            help="Apply exactly this saved plan; refused if the spec, state or cloud changed.",
        ),
    ] = None,
    no_rollback: Annotated[
        bool,
        typer.Option(
            "--no-rollback",
            help="On failure, keep what this run created (for debugging) instead of deleting it.",
        ),
    ] = False,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
) -> None:
    """Create or update the environment: show the cloud plan, confirm, apply, configure hosts.

    Each VM's roles run (Ansible over SSH) as soon as that VM is ready, while the
    rest of the cloud is still being applied. If anything fails or the run is
    interrupted, every resource this run created is deleted again (dependents
    first); resources that existed before are kept. Progress is live on a
    terminal and one line per event elsewhere.
    """
    console = stderr if as_json else stdout
    session = open_session(
        compile_for(environment, cloud_value(cloud)), NullSink(), parallelism=parallelism
    )
    name = session.compiled.environment.name
    plan_file = SavedPlan.load(saved) if saved is not None else None
    if plan_file is not None:
        plan_file.check_spec(session.compiled)
    with session.recorded(lock=True) as record:
        _note_recovered(session.orchestrator.recover(), console)
        if plan_file is not None:
            plan_file.check_state(session.orchestrator.cloud.fingerprint())
        with _status(f"planning {name}", as_json):
            # Hosts are always brought to their playbooks' state; `plan` shows their diffs.
            planned = session.orchestrator.plan(hosts=False)
        record.plan = planned
        if plan_file is not None:
            plan_file.check_same_changes(planned)
        if not as_json:
            render_plan(planned, stdout)
        if planned.has_changes and plan_file is None:
            _confirm(f"Apply these changes to {name}?", yes)
        with ProgressSink(console) as sink:
            session.show(sink)
            applied = session.orchestrator.up(planned, rollback=not no_rollback)
    if as_json:
        print_json({"plan": planned.to_json(), **applied.to_json(), "run": session.run_dir.name})
        return
    changed = sum(result.changed for result in applied.configured.values())
    hosts = (
        f" Configured {len(applied.configured)} roles on hosts, {changed} tasks changed."
        if applied.configured
        else ""
    )
    stdout.print(f"[green]Applied.[/] {summary_line(planned)}{escape(hosts)}")
    _render_outputs(applied.outputs)


def down(
    environment: EnvArgument,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
    cloud: CloudOption = None,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
) -> None:
    """Delete every resource of the environment, dependents first.

    When the state records nothing (never brought up here, or already down), that
    is said, with exit 0, and nothing is started (not even the local cloud).
    """
    console = stderr if as_json else stdout
    compiled = compile_for(environment, cloud_value(cloud))
    name = compiled.environment.name
    if nothing_recorded(compiled):
        if as_json:
            print_json({"plan": Plan(name).to_json(), "run": None, "recorded": 0})
        else:
            stdout.print(f"Nothing to delete in {escape(name)}: its state records no resources.")
        return
    session = open_session(compiled, NullSink(), parallelism=parallelism)
    with session.recorded(lock=True) as record:
        _note_recovered(session.orchestrator.recover(), console)
        with _status(f"planning the teardown of {name}", as_json):
            planned = session.orchestrator.plan_destroy()
        record.plan = planned
        if not as_json and planned.has_changes:
            render_plan(planned, stdout)
        elif not as_json:
            stdout.print(f"Nothing to delete in {escape(name)}.")
        if planned.has_changes:
            _confirm(f"Delete every resource of {name}?", yes)
        leftover = session.orchestrator.outputs()
        if planned.has_changes or leftover.vms or leftover.values:
            # With nothing to delete, this still clears outputs left by a partial rollback.
            with ProgressSink(console) as sink:
                session.show(sink)
                session.orchestrator.down()
    if as_json:
        print_json({"plan": planned.to_json(), "run": session.run_dir.name})
    elif planned.has_changes:
        stdout.print(f"[green]Destroyed.[/] {planned.summary()['delete']} resources deleted.")


def drift(
    environment: EnvArgument,
    as_json: JsonFlag = False,
    cloud: CloudOption = None,
    no_hosts: NoHostsFlag = False,
) -> None:
    """Report out-of-band changes: managed cloud properties, and files on the hosts.

    The live cloud is read and compared with the recorded state, property by
    property (only what the spec manages); the hosts are compared with their
    playbooks in Ansible's check mode. Exit 0 for no drift, 2 for drift, 1 on
    error. `provision up` puts everything back.
    """
    session = open_session(compile_for(environment, cloud_value(cloud)), NullSink())
    with session.recorded(lock=False) as record:
        with _status(f"checking {session.compiled.environment.name} for drift", as_json):
            found = session.orchestrator.drift(hosts=not no_hosts)
        record.plan = found
    if as_json:
        print_json({**found.to_json(), "drift": found.has_changes, "run": session.run_dir.name})
    else:
        render_drift(found, stdout)
    if found.has_changes:
        raise typer.Exit(EXIT_CHANGES)


def _note_recovered(addresses: list[str], console: Console) -> None:
    if addresses:
        console.print(
            "[yellow]note:[/] cleared operations an interrupted run left pending on "
            + escape(", ".join(addresses))
        )


def output(environment: EnvArgument, as_json: JsonFlag = False, cloud: CloudOption = None) -> None:
    """Print the environment's outputs: every VM's id and addresses, and the spec's outputs."""
    session = open_session(compile_for(environment, cloud_value(cloud)), NullSink())
    outputs = session.orchestrator.outputs()
    if as_json:
        print_json(outputs.to_json())
    else:
        _render_outputs(outputs)


def _render_outputs(outputs: EnvironmentOutputs) -> None:
    if not outputs.vms and not outputs.values:
        stdout.print("No outputs.")
        return
    for address, vm in outputs.vms.items():
        public = f", public {vm.public_ip}" if vm.public_ip else ""
        stdout.print(
            f"  {escape(address)}  {vm.id}  {vm.private_ip}{public}  "
            f"({vm.hostname}; {', '.join(vm.roles) or 'no roles'})"
        )
    for name, value in outputs.values.items():
        stdout.print(f"  {escape(name)} = {escape(str(value))}")


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if os.environ.get("CI") or not sys.stdin.isatty():
        raise ConfirmationError(
            "refusing to change anything without confirmation",
            hint="pass --yes when not at a terminal",
        )
    if not typer.confirm(question, default=False):
        raise ConfirmationError("cancelled; nothing was changed")


def cloud_value(cloud: CloudChoice | None) -> str | None:
    return cloud.value if cloud is not None else None


class _status:  # noqa: N801 - reads as a clause: `with _status("planning dev", quiet)`
    """A spinner on a terminal while a long step runs."""

    def __init__(self, text: str, quiet: bool) -> None:
        self._status = None if quiet or not stderr.is_terminal else stderr.status(text)

    def __enter__(self) -> None:
        if self._status is not None:
            self._status.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)
