"""Render a plan for people, the way Terraform users read one."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from provisioner.plan import Action, Plan, ResourceChange

_COLOURS = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.NO_OP: "dim",
}


def render_plan(plan: Plan, console: Console) -> None:
    """Each pending change with its property diffs, then the summary line."""
    pending = plan.pending()
    if not pending:
        console.print(f"[green]No changes.[/] {plan.environment} matches its spec.")
        return
    console.print(f"Plan for [bold]{plan.environment}[/]:")
    for change in pending:
        _render_change(change, console)
    console.print(summary_line(plan))


def summary_line(plan: Plan) -> str:
    counts = plan.summary()
    return (
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['replace']} to replace, {counts['delete']} to delete."
    )


def _render_change(change: ResourceChange, console: Console) -> None:
    colour = _COLOURS[change.action]
    forcing = [p.path for p in change.diff if p.forces_replacement]
    note = f" ({', '.join(forcing)} forces replacement)" if forcing else ""
    console.print(
        f"  [{colour}]{change.action.symbol:>3} {escape(change.address)}[/] "
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
