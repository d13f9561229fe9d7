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
from provisioner.cli.options import JsonFlag
from provisioner.cli.output import print_json, stdout
from provisioner.cli.specs import (
    compile_ref,
    environments_dir,
    names_and,
    resolve_ref,
    shared_base_users,
    spec_folder,
)
from provisioner.errors import ConfigurationError
from provisioner.graph import ResourceGraph, render
from provisioner.spec import Diagnostic, SpecError
from provisioner.spec.uses import EnvironmentGraph


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


@dataclass(frozen=True)
class Selection:
    """The environments to validate, and a note for each shared base they stand in for."""

    refs: list[str]
    notes: list[str]


def _select(environments: list[str] | None) -> Selection:
    """Every environment in environments/ by default; a shared base means its environments.

    A shared base is not valid or invalid by itself (it may leave out what each
    environment adds), so it is checked as part of every environment built on it.
    """
    if not environments:
        folder = spec_folder()
        notes = [
            f"{base}: a shared base, checked as part of {names_and(users)}"
            for base, users in folder.bases.items()
        ]
        return Selection([str(file) for file in folder.environments], notes)
    refs: dict[Path, str] = {}  # each spec file once, however it was named
    notes = []
    for ref in environments:
        source = resolve_ref(ref)
        users = shared_base_users(source)
        if users:
            notes.append(f"{ref}: a shared base, checked as part of {names_and(users)}")
            for file in users:
                refs.setdefault(file.resolve(), str(file))
        else:
            refs.setdefault(source.file, ref)
    return Selection(list(refs.values()), notes)


def validate(
    environments: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ENV",
            help=(
                "Names in environments/ or paths to YAML files. Default: every environment "
                "there. A shared base (a file other specs there extend) is checked as part "
                "of the environments built on it."
            ),
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check specs and list every problem with file, line, column and field path.

    Exits 0 when all are valid, 1 otherwise. Nothing is created or changed.
    """
    selection = _select(environments)
    outcomes = [_check(ref) for ref in selection.refs]
    if as_json:
        print_json([outcome.to_json() for outcome in outcomes])
    else:
        for note in selection.notes:
            stdout.print(f"· {note}", markup=False, soft_wrap=True, highlight=False)
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
    environment: Annotated[
        str | None, typer.Argument(metavar="ENV", help="Name or path of the spec.")
    ] = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all", help="The environments of environments/ and what each uses, instead."
        ),
    ] = False,
    output_format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="text (the waves), json, dot or png.")
    ] = GraphFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file (png default: ENV-graph.png, environments-graph.png).",
        ),
    ] = None,
) -> None:
    """Show the resource dependency graph: its parallel waves, critical path and edges.

    With --all, the environments' own graph: which uses which (`uses:`), in waves
    that can be applied at once.
    """
    if every == (environment is not None):
        raise ConfigurationError("give an environment, or --all (not both)")
    if every:
        _environments_graph(output_format, output)
        return
    assert environment is not None
    compiled = compile_ref(environment)
    if output_format is GraphFormat.PNG:
        target = output or Path(f"{compiled.environment.name}-graph.png")
        render.render_png(compiled.graph, target)
        stdout.print(f"wrote {target}")
        return
    _emit(_RENDERERS[output_format](compiled.graph), output)


def _environments_graph(output_format: GraphFormat, output: Path | None) -> None:
    environments = EnvironmentGraph.of_folder(environments_dir())
    cycles = environments.cycles()
    if cycles:
        # A cycle runs from what is used to its user; say it as `uses` reads.
        members = "; ".join(" -> ".join([*c[::-1], c[-1]]) for c in cycles)
        raise ConfigurationError(
            f"environments use each other in a cycle: {members}",
            hint="`provision validate` locates it",
        )
    if output_format is GraphFormat.PNG:
        target = output or Path("environments-graph.png")
        render.dot_to_png(render.environments_to_dot(environments), target)
        stdout.print(f"wrote {target}")
        return
    if output_format is GraphFormat.JSON:
        text = json.dumps(render.environments_to_json(environments), indent=2) + "\n"
    elif output_format is GraphFormat.DOT:
        text = render.environments_to_dot(environments)
    else:
        text = render.environments_to_text(environments)
    _emit(text, output)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    stdout.print(f"wrote {output}")
