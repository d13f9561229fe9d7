"""`provision plan | up | down | drift | output`: an environment's lifecycle.

Each command parses its options, hands the run to the engine's operations
(`provisioner.engine.operations`) with the wired setup, a console view and
a confirmation prompt, and renders the result.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from provisioner.cli import environments_cmd, environments_report
from provisioner.cli.errors import EXIT_CHANGES
from provisioner.cli.options import (
    AllFlag,
    CloudOption,
    DetailedExitcodeFlag,
    EnvArgument,
    JsonFlag,
    NoHostsFlag,
    NoRollbackFlag,
    OptionalEnvArgument,
    ParallelismOption,
    PlanOutOption,
    SavedPlanOption,
    WithDependentsFlag,
    WithDepsFlag,
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
from provisioner.engine.saved_plan import SavedPlan
from provisioner.errors import ConfigurationError
from provisioner.plan import Plan


def plan(
    environment: OptionalEnvArgument = None,
    as_json: JsonFlag = False,
    detailed_exitcode: DetailedExitcodeFlag = False,
    cloud: CloudOption = None,
    no_hosts: NoHostsFlag = False,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
    out: PlanOutOption = None,
    with_deps: WithDepsFlag = False,
    with_dependents: WithDependentsFlag = False,
    every: AllFlag = False,
) -> None:
    """Show what `up` would change: each cloud resource's properties, each host's tasks.

    Cloud resources are compared with the live cloud; software on VMs that exist
    is compared with Ansible's check mode, with file diffs. Exit 0 (or, with
    --detailed-exitcode, 0 for no changes and 2 for changes), 1 on error.

    A value read from an environment ENV uses that was never applied is shown as
    `known after apply of NAME`. With --with-deps, --with-dependents or --all,
    several environments are planned, each after what it uses: a value read from a
    resource that an upstream plan creates or replaces is known after its apply too
    (so a replaced subnet shows the VMs it replaces downstream).
    """
    if with_deps or with_dependents or every:
        environments_report.plan_many(
            environment,
            out=out,
            every=every,
            downstream=with_dependents,
            cloud=cloud,
            hosts=not no_hosts,
            parallelism=parallelism,
            as_json=as_json,
            detailed_exitcode=detailed_exitcode,
        )
        return
    if environment is None:
        raise ConfigurationError("give an environment, or --all")
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
    environment: OptionalEnvArgument = None,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
    cloud: CloudOption = None,
    saved: SavedPlanOption = None,
    no_rollback: NoRollbackFlag = False,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
    with_deps: WithDepsFlag = False,
    with_dependents: WithDependentsFlag = False,
    every: AllFlag = False,
) -> None:
    """Create or update the environment: show the cloud plan, confirm, apply, configure hosts.

    Each VM's roles run (Ansible over SSH) as soon as that VM is ready, while the
    rest of the cloud is still being applied. If anything fails or the run is
    interrupted, every resource this run created is deleted again (dependents
    first); resources that existed before are kept. Progress is live on a
    terminal and one line per event elsewhere.

    With --with-deps, --with-dependents or --all, several environments: one question
    for the set, then each after what it uses (independent ones at once), each with
    its own lock, record and rollback; what uses a failed one is skipped and named.
    """
    if with_deps or with_dependents or every:
        environments_cmd.up_many(
            environment,
            saved=saved,
            every=every,
            downstream=with_dependents,
            confirm=confirmation(yes),
            cloud=cloud,
            rollback=not no_rollback,
            parallelism=parallelism,
            as_json=as_json,
        )
        return
    if environment is None:
        raise ConfigurationError("give an environment, or --all")
    show_plan = None if as_json else (lambda planned: render_plan(planned, stdout))
    view = ConsoleView(stderr if as_json else stdout, quiet=as_json, show_plan=show_plan)
    applied = operations.up(
        ProjectSetup.of(environment, cloud),
        view,
        confirmation(yes),
        saved=SavedPlan.load(saved) if saved is not None else None,
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
    environment: OptionalEnvArgument = None,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
    cloud: CloudOption = None,
    parallelism: ParallelismOption = DEFAULT_PARALLELISM,
    with_dependents: WithDependentsFlag = False,
    every: AllFlag = False,
) -> None:
    """Delete every resource of the environment, dependents first.

    When the state records nothing (never brought up here, or already down), that
    is said, with exit 0, and nothing is started (not even the local cloud).
    An environment that another one with resources uses is refused, naming it.

    With --with-dependents or --all, several environments: one question for the set,
    then each once what uses it is down (independent ones at once).
    """
    if with_dependents or every:
        environments_cmd.down_many(
            environment,
            every=every,
            confirm=confirmation(yes),
            cloud=cloud,
            parallelism=parallelism,
            as_json=as_json,
        )
        return
    if environment is None:
        raise ConfigurationError("give an environment, or --all")
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
    environment: OptionalEnvArgument = None,
    as_json: JsonFlag = False,
    cloud: CloudOption = None,
    no_hosts: NoHostsFlag = False,
    every: AllFlag = False,
) -> None:
    """Report out-of-band changes: managed cloud properties, and files on the hosts.

    The live cloud is read and compared with the recorded state, property by
    property (only what the spec manages); the hosts are compared with their
    playbooks in Ansible's check mode. Exit 0 for no drift, 2 for drift, 1 on
    error. `provision up` puts everything back.

    With --all, every environment in environments/ that has resources, at once:
    one report, exit 2 if any drifted, 1 if any could not be read.
    """
    if every:
        if environment is not None:
            raise ConfigurationError("give an environment, or --all (not both)")
        environments_report.drift_many(cloud=cloud, hosts=not no_hosts, as_json=as_json)
        return
    if environment is None:
        raise ConfigurationError("give an environment, or --all")
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
