"""`provision validate` and `provision graph`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from provisioner.cli.errors import EXIT_ERROR
from provisioner.cli.output import print_json, stdout
from provisioner.cli.specs import all_environment_refs, compile_ref
from provisioner.graph import ResourceGraph, render
from provisioner.spec import Diagnostic, SpecError

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@dataclass(frozen=True)
class Outcome:
    """The validation result of one environment."""

    ref: str
    problems: list[Diagnostic] = field(default_factory=list)
    resources: int = 0
    waves: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.ref,
            "valid": not self.problems,
            "problems": [problem.to_json() for problem in self.problems],
            "resources": self.resources,
            "waves": self.waves,
        }


def _check(ref: str) -> Outcome:
    try:
        graph = compile_ref(ref).graph
    except SpecError as error:
        return Outcome(ref, error.diagnostics)
    return Outcome(ref, resources=len(graph), waves=len(graph.waves()))


def validate(
    environments: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[ENV]...",
            help="Names in environments/ or paths to YAML files. Default: every file there.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check specs and list every problem with file, line, column and field path.

    Exits 0 when all are valid, 1 otherwise. Nothing is created or changed.
    """
    outcomes = [_check(ref) for ref in environments or all_environment_refs()]
    if as_json:
        print_json([outcome.to_json() for outcome in outcomes])
    else:
        for outcome in outcomes:
            _print(outcome)
    if any(outcome.problems for outcome in outcomes):
        raise typer.Exit(EXIT_ERROR)


def _print(outcome: Outcome) -> None:
    if not outcome.problems:
        stdout.print(
            f"[green]✓[/] {outcome.ref}: valid "
            f"({outcome.resources} resources, {outcome.waves} waves)"
        )
        return
    count = len(outcome.problems)
    stdout.print(f"[red]✗[/] {outcome.ref}: {count} problem{'s' if count != 1 else ''}")
    for problem in outcome.problems:
        stdout.print(f"  {problem}", markup=False, soft_wrap=True, highlight=False)


class GraphFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    DOT = "dot"
    PNG = "png"


_RENDERERS: dict[GraphFormat, Callable[[ResourceGraph], str]] = {
    GraphFormat.TEXT: render.to_text,
    GraphFormat.DOT: render.to_dot,
    GraphFormat.JSON: lambda g: json.dumps(g.to_json(), indent=2, sort_keys=True) + "\n",
}


def graph(
    environment: Annotated[str, typer.Argument(metavar="ENV", help="Name or path of the spec.")],
    output_format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="text (the waves), json, dot or png.")
    ] = GraphFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (png default: ENV-graph.png)."),
    ] = None,
) -> None:
    """Show the resource dependency graph: its parallel waves, critical path and edges."""
    compiled = compile_ref(environment)
    if output_format is GraphFormat.PNG:
        target = output or Path(f"{compiled.environment.name}-graph.png")
        render.render_png(compiled.graph, target)
        stdout.print(f"wrote {target}")
        return
    text = _RENDERERS[output_format](compiled.graph)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    stdout.print(f"wrote {output}")
