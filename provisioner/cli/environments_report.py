"""`plan` and `drift` over several environments: one report and one exit code for the set.

`plan` runs each environment after those it uses, giving it their plans (what they
create or replace is known after their apply); `drift` reads every environment that
has resources at once. Either is one record of a run over several environments.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from provisioner.cli.environments_cmd import LineView, runs_root, say, selected, waves
from provisioner.cli.errors import EXIT_CHANGES, EXIT_ERROR
from provisioner.cli.output import print_json, stdout
from provisioner.cli.plan_view import render_drift, render_plan
from provisioner.cli.wiring import ProjectSetup
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.dag.walk import Outcome
from provisioner.engine import operations
from provisioner.engine.environment_runs import (
    plan_environments,
    record_parts,
    recorded_runs,
    run_environments,
)
from provisioner.engine.operations import Planned
from provisioner.engine.ports import UpstreamPlans
from provisioner.engine.saved_plan import SavedPlan, write_plans
from provisioner.plan import Plan
from provisioner.spec.model import Cloud


def plan_many(
    environment: str | None,
    *,
    out: Path | None,
    every: bool,
    downstream: bool,
    cloud: Cloud | None,
    hosts: bool,
    parallelism: int,
    as_json: bool,
    detailed_exitcode: bool,
) -> None:
    """Plan each environment after those it uses, with their plans; one report, one exit code."""
    uses = selected(environment, every=every, downstream=downstream)
    setups = {name: ProjectSetup.of(name, cloud) for name in uses}
    order = [n for wave in waves(uses) for n in wave]
    runs: dict[str, str] = {}
    saved: dict[str, SavedPlan] = {}

    def plan_one(name: str, upstreams: UpstreamPlans) -> Plan:
        found = operations.plan(
            setups[name],
            LineView(name, quiet=True),
            hosts=hosts,
            parallelism=parallelism,
            out=None,
            upstreams=upstreams,
            save=out is not None,
        )
        runs[name] = found.run_id
        if found.saved is not None:
            saved[name] = found.saved
        return found.plan

    with recorded_runs(runs_root(), setups[order[0]].command, order) as record:
        plans, results = plan_environments(uses, plan_one)
        record_parts(record, results, runs)
    failed = [r for r in results if r.outcome is not Outcome.DONE]
    if out is not None and not failed:
        write_plans(out, [saved[name] for name in order])
    if as_json:
        print_json(
            {
                "run": record.info.id,
                "saved": str(out) if out is not None and not failed else None,
                "environments": [
                    {
                        "environment": name,
                        "plan": plans[name].to_json() if name in plans else None,
                        "run": runs.get(name),
                        "error": next((r.detail for r in failed if r.environment == name), None),
                    }
                    for name in order
                ],
                "has_changes": any(plan.has_changes for plan in plans.values()),
            }
        )
    else:
        for name in order:
            if name in plans:
                stdout.rule(f"{escape(name)}", align="left")
                render_plan(plans[name], stdout)
        for result in failed:
            say(f"{result.environment}: {result.detail}", False)
        if out is not None and not failed:
            stdout.print(f"Saved the plans to {escape(str(out))}; apply them with `up --plan`.")
    if failed:
        raise typer.Exit(EXIT_ERROR)
    if detailed_exitcode and any(plan.has_changes for plan in plans.values()):
        raise typer.Exit(EXIT_CHANGES)


def drift_many(*, cloud: Cloud | None, hosts: bool, as_json: bool) -> None:
    """Drift of every environment that has resources, at once; one report, one exit code."""
    uses = selected(None, every=True, downstream=False)
    setups = {name: ProjectSetup.of(name, cloud) for name in uses}
    recorded: dict[str, list[str]] = {
        name: [] for name, setup in setups.items() if not setup.nothing_recorded()
    }
    found: dict[str, Planned] = {}

    def drift_one(name: str) -> None:
        view = LineView(name, quiet=True)
        found[name] = operations.drift(
            setups[name], view, hosts=hosts, parallelism=DEFAULT_PARALLELISM
        )

    command = next(iter(setups.values())).command
    with recorded_runs(runs_root(), command, sorted(recorded)) as record:
        results = run_environments(recorded, drift_one, workers=max(1, len(recorded)))
        record_parts(record, results, {name: found[name].run_id for name in found})
    failed = {r.environment: r.detail for r in results if r.outcome is not Outcome.DONE}
    drifted = any(planned.plan.has_changes for planned in found.values())
    if as_json:
        print_json(
            {
                "run": record.info.id,
                "environments": [
                    {
                        "environment": name,
                        "recorded": name in recorded,
                        "drift": found[name].plan.has_changes if name in found else None,
                        "plan": found[name].plan.to_json() if name in found else None,
                        "run": found[name].run_id if name in found else None,
                        "error": failed.get(name),
                    }
                    for name in sorted(uses)
                ],
                "drift": drifted,
            }
        )
    else:
        for name in sorted(uses):
            if name in found:
                render_drift(found[name].plan, stdout)
            elif name in failed:
                say(f"{name}: {failed[name]}", False)
            else:
                say(f"{name}: nothing recorded, nothing to compare", False)
    if failed:
        raise typer.Exit(EXIT_ERROR)
    if drifted:
        raise typer.Exit(EXIT_CHANGES)
