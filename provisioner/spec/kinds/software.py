"""roles: software roles (a playbook, its variables, roles it runs after), one node per VM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import Field

from provisioner.dag import algorithms as dag
from provisioner.spec.addresses import Addressing, ResourceKind
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kind import CheckContext, SpecKind, dangling, duplicates, no_resources
from provisioner.spec.model import Environment, SpecModel
from provisioner.spec.schema_errors import closest

# A role on one VM may wait for a resource of any kind (a `${...}` value).
SOFTWARE = ResourceKind.declare("software", on_any=True, addressing=Addressing.HOSTED)


class RoleSpec(SpecModel):
    """A software role: a playbook under playbooks/, its variables, and roles it runs after."""

    playbook: str
    vars: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    roles = ROLES.items(env)
    playbooks = _playbook_names(ctx.playbooks_dir)
    for name, role in roles.items():
        path = ("roles", name)
        playbook = (ctx.playbooks_dir / role.playbook).resolve()
        if not playbook.is_relative_to(ctx.playbooks_dir.resolve()):
            yield ctx.problem(
                (*path, "playbook"), f"playbook '{role.playbook}' is outside playbooks/"
            )
        elif not playbook.is_file():
            yield ctx.problem(
                (*path, "playbook"),
                f"no playbook '{role.playbook}' in {ctx.playbooks_dir}"
                f"{_suggest_file(role.playbook, playbooks)}",
            )
        yield from duplicates(ctx, (*path, "after"), role.after)
        for index, other in enumerate(role.after):
            if other == name:
                yield ctx.problem((*path, "after", index), f"role '{name}' cannot run after itself")
            else:
                yield from dangling(ctx, (*path, "after", index), "roles", "role", other)
    yield from _cycles(env, ctx)


def _cycles(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    """`after:` cycles among roles, found even when no VM runs the roles yet."""
    roles = ROLES.items(env)
    graph = nx.DiGraph()
    for name, role in roles.items():
        graph.add_node(name)
        graph.add_edges_from(
            (other, name) for other in role.after if other in roles and other != name
        )
    for cycle in dag.cycles(graph, key=str):
        ring = [*cycle, cycle[0]]
        first = ring[1]
        index = roles[first].after.index(ring[0])
        yield ctx.problem(
            ("roles", first, "after", index),
            f"dependency cycle among roles: {' -> '.join(ring)} (each runs after the one before)",
        )


def _suggest_file(name: str, files: list[str]) -> str:
    """Did-you-mean on file names, compared without their common suffixes."""
    by_stem = {Path(f).stem: f for f in files}
    match = closest(Path(name).stem, by_stem)
    return f" (did you mean '{by_stem[match]}'?)" if match else ""


def _playbook_names(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.suffix in (".yml", ".yaml"))


# Roles are counted with the VMs that run them.
ROLES = SpecKind(
    SOFTWARE,
    "roles",
    RoleSpec,
    references_in=("vars",),
    reads_secrets=True,
    check=_check,
    shares=no_resources,
)
