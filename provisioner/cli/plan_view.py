"""Render a plan for people, the way Terraform users read one."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from provisioner.plan import Action, Plan, ResourceChange, SoftwareChange, TaskOutlook

_COLOURS = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.NO_OP: "dim",
}


_TASK_MARKS = {
    TaskOutlook.CHANGE: ("~", "yellow"),
    TaskOutlook.UNKNOWN: ("?", "cyan"),
    TaskOutlook.FAIL: ("!", "red"),
    TaskOutlook.NO_CHANGE: (" ", "dim"),
}


def render_plan(plan: Plan, console: Console) -> None:
    """Each pending change with its property diffs, software task diffs, then the summary."""
    pending = plan.pending()
    software = [change for change in plan.software if change.action is not Action.NO_OP]
    _render_gone(plan, console)
    if not plan.has_changes:
        console.print(f"[green]No changes.[/] {plan.environment} matches its spec.")
        _render_unpredictable(plan, console)
        return
    console.print(f"Plan for [bold]{plan.environment}[/]:")
    for change in pending:
        _render_change(change, console)
    for software_change in software:
        _render_software(software_change, console)
    _render_outputs(plan, console)
    _render_unpredictable(plan, console)
    console.print(summary_line(plan))


def _render_gone(plan: Plan, console: Console) -> None:
    if not plan.gone:
        return
    console.print(
        f"[yellow]note:[/] {len(plan.gone)} resources that the state records no longer exist "
        "in the cloud (deleted outside provision, or forgotten by a restarted local cloud): "
        f"{escape(', '.join(map(str, plan.gone)))}. `up` creates them again."
    )


def _render_outputs(plan: Plan, console: Console) -> None:
    """Changes to the environment's outputs, as Terraform lists them."""
    if not plan.outputs:
        return
    console.print("  Changes to outputs:")
    for change in plan.outputs:
        console.print(
            f"    [yellow]~ {escape(change.path)}[/]: {escape(_short(change.before))} "
            f"-> {escape(_short(change.after))}"
        )


def summary_line(plan: Plan) -> str:
    counts = plan.summary()
    line = (
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['replace']} to replace, {counts['delete']} to delete."
    )
    if plan.outputs:
        line += f" {len(plan.outputs)} outputs change."
    if plan.software:
        hosts = plan.software_summary()
        line += (
            f" Software: {hosts['configure']} to configure on new hosts, "
            f"{hosts['change']} to change, {hosts['no-op']} unchanged."
        )
    return line


def _render_software(change: SoftwareChange, console: Console) -> None:
    colour = _COLOURS[change.action]
    if change.action is Action.CREATE:
        console.print(
            f"  [{colour}]  + {escape(str(change.address))}[/] configure "
            f"({escape(change.host)} is new: every task runs)"
        )
        return
    console.print(
        f"  [{colour}]  ~ {escape(str(change.address))}[/] change ({escape(change.host)})"
    )
    for task in change.tasks:
        if task.outlook in (TaskOutlook.NO_CHANGE, TaskOutlook.UNKNOWN):
            continue
        mark, style = _TASK_MARKS[task.outlook]
        note = f": {task.note}" if task.note else ""
        console.print(f"      [{style}]{mark} {escape(task.task)}[/]{escape(note)}")
        for line in (task.diff or "").splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(f"          [{style}]{escape(line)}[/]")


def _render_unpredictable(plan: Plan, console: Console) -> None:
    """Check mode cannot run some tasks; say which, so that "no changes" is not overclaimed."""
    unknown = sorted(
        {
            task.task
            for change in plan.software
            for task in change.tasks
            if task.outlook is TaskOutlook.UNKNOWN
        }
    )
    if unknown:
        console.print(
            "[cyan]Check mode cannot predict these tasks; `up` runs them: "
            f"{escape(', '.join(unknown))}[/]"
        )


def _render_change(change: ResourceChange, console: Console) -> None:
    colour = _COLOURS[change.action]
    forcing = [p.path for p in change.diff if p.forces_replacement]
    note = f" ({', '.join(forcing)} forces replacement)" if forcing else ""
    console.print(
        f"  [{colour}]{change.action.symbol:>3} {escape(str(change.address))}[/] "
        f"[{colour}]{change.action.value}[/]{escape(note)}"
    )
    for prop in change.diff:
        if change.action is Action.CREATE:
            console.print(f"        {escape(prop.path)}: {escape(_short(prop.after))}")
        else:
            console.print(
                f"        {escape(prop.path)}: {escape(_short(prop.before))} "
                f"-> {escape(_short(prop.after))}"
            )


def _short(value: Any) -> str:
    plain = isinstance(value, str) and "\n" not in value
    text = value if plain else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def render_drift(plan: Plan, console: Console) -> None:
    """Each drifted resource's managed properties (expected -> actual), and drifted hosts."""
    drifted = plan.pending()
    software = [change for change in plan.software if change.action is not Action.NO_OP]
    if not drifted and not software:
        console.print(f"[green]No drift.[/] {plan.environment} matches its recorded state.")
        return
    console.print(f"Drift in [bold]{plan.environment}[/]:")
    for change in drifted:
        if change.action is Action.DELETE:
            console.print(f"  [red]- {escape(str(change.address))}[/] deleted outside provision")
            continue
        console.print(f"  [yellow]~ {escape(str(change.address))}[/]")
        for prop in change.diff:
            if isinstance(prop.before, list) and isinstance(prop.after, list):
                console.print(f"        {escape(prop.path)}:")
                for item in prop.before:
                    if item not in prop.after:
                        console.print(f"          [red]- {escape(_short(item))}[/] (expected)")
                for item in prop.after:
                    if item not in prop.before:
                        console.print(f"          [green]+ {escape(_short(item))}[/] (actual)")
                continue
            console.print(
                f"        {escape(prop.path)}: expected {escape(_short(prop.before))}, "
                f"actual {escape(_short(prop.after))}"
            )
    for software_change in software:
        _render_software(software_change, console)
    console.print("Run `provision up` to put it back.")
