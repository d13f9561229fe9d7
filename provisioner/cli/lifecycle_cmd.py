"""`provision plan | up | down | drift | output`: an environment's lifecycle.

Each command parses its options, hands the run to the engine's operations
(`provisioner.engine.operations`) with the wired setup, a console view and
a confirmation prompt, and renders the result.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from provisioner.cli.errors import EXIT_CHANGES
from provisioner.cli.options import (
    CloudOption,
    DetailedExitcodeFlag,
    EnvArgument,
    JsonFlag,
    NoHostsFlag,
    NoRollbackFlag,
    ParallelismOption,
    PlanOutOption,
    SavedPlanOption,
    YesFlag,
)
from provisioner.cli.output import print_json, stderr, stdout
from provisioner.cli.plan_view import render_drift, render_plan, summary_line
from provisioner.cli.run_view import ConsoleView, confirmation
from provisioner.cli.wiring import ProjectSetup
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.engine import operations
from provisioner.engine.ports import EnvironmentOutputs
from provisioner.engine.run_record import new_run_id
from provisioner.plan import Plan


def plan(
    environment: EnvArgument,
    as_json: JsonFlag = False,
    detailed_exitcode: DetailedExitcodeFlag = False,
    cloud: CloudOption = None,
    no_hosts: NoHostsFlag = False,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
    out: PlanOutOption = None,
) -> None:
    """Show what `up` would change: each cloud resource's properties, each host's tasks.

    Cloud resources are compared with the live cloud; software on VMs that exist
    is compared with Ansible's check mode, with file diffs. Exit 0 (or, with
    --detailed-exitcode, 0 for no changes and 2 for changes), 1 on error.
    """
    setup = ProjectSetup.of(environment, cloud)
    view = ConsoleView(stdout, quiet=as_json)
    found = operations.plan(setup, view, hosts=not no_hosts, parallelism=parallelism, out=out)
    if as_json:
        print_json({**found.plan.to_json(), "run": found.run_id})
    else:
        render_plan(found.plan, stdout)
        if out is not None:
            stdout.print(f"Saved the plan to {escape(str(out))}; apply it with `up --plan`.")
    if detailed_exitcode and found.plan.has_changes:
        raise typer.Exit(EXIT_CHANGES)


def up(
    environment: EnvArgument,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
    cloud: CloudOption = None,
    saved: SavedPlanOption = None,
    no_rollback: NoRollbackFlag = False,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
) -> None:
    """Create or update the environment: show the cloud plan, confirm, apply, configure hosts.

    Each VM's roles run (Ansible over SSH) as soon as that VM is ready, while the
    rest of the cloud is still being applied. If anything fails or the run is
    interrupted, every resource this run created is deleted again (dependents
    first); resources that existed before are kept. Progress is live on a
    terminal and one line per event elsewhere.
    """
    show_plan = None if as_json else (lambda planned: render_plan(planned, stdout))
    view = ConsoleView(stderr if as_json else stdout, quiet=as_json, show_plan=show_plan)
    applied = operations.up(
        ProjectSetup.of(environment, cloud),
        view,
        confirmation(yes),
        saved=saved,
        rollback=not no_rollback,
        parallelism=parallelism,
    )
    if as_json:
        print_json(
            {"plan": applied.plan.to_json(), **applied.result.to_json(), "run": applied.run_id}
        )
        return
    configured = applied.result.configured
    changed = sum(result.changed for result in configured.values())
    hosts = (
        f" Configured {len(configured)} roles on hosts, {changed} tasks changed."
        if configured
        else ""
    )
    stdout.print(f"[green]Applied.[/] {summary_line(applied.plan)}{escape(hosts)}")
    _render_outputs(applied.result.outputs)


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
    view = ConsoleView(
        stderr if as_json else stdout, quiet=as_json, show_plan=None if as_json else _teardown
    )
    setup = ProjectSetup.of(environment, cloud)
    destroyed = operations.down(setup, view, confirmation(yes), parallelism=parallelism)
    planned = destroyed.plan
    if destroyed.run_id is None:
        if as_json:
            print_json({"plan": planned.to_json(), "run": None, "recorded": 0})
        else:
            name = escape(planned.environment)
            stdout.print(f"Nothing to delete in {name}: its state records no resources.")
    elif as_json:
        print_json({"plan": planned.to_json(), "run": destroyed.run_id})
    elif planned.has_changes:
        stdout.print(f"[green]Destroyed.[/] {planned.summary()['delete']} resources deleted.")


def _teardown(planned: Plan) -> None:
    if planned.has_changes:
        render_plan(planned, stdout)
    else:
        stdout.print(f"Nothing to delete in {escape(planned.environment)}.")


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
    found = operations.drift(
        ProjectSetup.of(environment, cloud),
        ConsoleView(stdout, quiet=as_json),
        hosts=not no_hosts,
        parallelism=DEFAULT_PARALLELISM,
    )
    if as_json:
        print_json({**found.plan.to_json(), "drift": found.plan.has_changes, "run": found.run_id})
    else:
        render_drift(found.plan, stdout)
    if found.plan.has_changes:
        raise typer.Exit(EXIT_CHANGES)


def output(environment: EnvArgument, as_json: JsonFlag = False, cloud: CloudOption = None) -> None:
    """Print the environment's outputs: every VM's id and addresses, and the spec's outputs."""
    outputs = ProjectSetup.of(environment, cloud).open(new_run_id()).cloud.outputs()
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
            f"  {escape(str(address))}  {vm.id}  {vm.private_ip}{public}  "
            f"({vm.hostname}; {', '.join(vm.roles) or 'no roles'})"
        )
    for name, value in outputs.values.items():
        stdout.print(f"  {escape(name)} = {escape(str(value))}")
