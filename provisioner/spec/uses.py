"""Environments that use each other: `uses:`, `${env.NAME...}` references, and the
environments' own dependency graph.

An environment lists what it uses (`uses: [network]`) and reads their values:
`${env.network.subnet.private-a.id}` (a resource's attribute) or
`${env.network.outputs.vpc_id}` (an output). The environments of one folder, with
the `uses` of each, form a graph that must have no cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx

from provisioner.dag import algorithms
from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.kind import CheckContext, SpecKind
from provisioner.spec.kinds import SECTIONS, SPEC_KINDS, spec_kind
from provisioner.spec.model import Environment, SpecModel
from provisioner.spec.overlay import SPEC_SUFFIXES, load_with_overlays, scan_folder
from provisioner.spec.references import parse_environment_reference, placement
from provisioner.spec.schema_errors import suggest
from provisioner.spec.yamldoc import LocatedDocument

USES = "uses"
M = TypeVar("M", bound=SpecModel)


def read_uses(file: Path) -> tuple[str, ...]:
    """The `uses` of one environment file (with what it extends), not validating the rest."""
    doc, _ = load_with_overlays(file)
    uses = doc.data.get(USES) if doc is not None and isinstance(doc.data, dict) else None
    if not isinstance(uses, list):
        return ()
    return tuple(name for name in uses if isinstance(name, str))


@dataclass(frozen=True)
class EnvironmentGraph:
    """The environments of a folder and what each uses.

    As in every graph here, an edge points from what is used to its user: a wave
    holds environments that can be applied at once, after every earlier wave.
    """

    uses: Mapping[str, tuple[str, ...]]

    @classmethod
    def of_folder(cls, folder: Path) -> EnvironmentGraph:
        files = scan_folder(folder).environments
        return cls({file.stem: read_uses(file) for file in files})

    def digraph(self) -> nx.DiGraph:
        graph: nx.DiGraph = nx.DiGraph()
        graph.add_nodes_from(self.uses)
        for name, used in self.uses.items():
            graph.add_edges_from((other, name) for other in used if other in self.uses)
        return graph

    def cycles(self) -> list[list[str]]:
        return algorithms.cycles(self.digraph(), key=str)

    def cycles_through(self, name: str) -> Iterator[list[str]]:
        """Each cycle of `uses` that `name` is on, from `name` to what it uses, and on."""
        for cycle in self.cycles():
            if name in cycle:
                # The cycle runs along edges (used -> user); `uses` runs the other way.
                backwards = list(reversed(cycle))
                start = backwards.index(name)
                yield backwards[start:] + backwards[:start]

    def waves(self) -> list[list[str]]:
        return algorithms.waves(self.digraph(), key=str)

    def upstream(self, name: str) -> list[str]:
        """What `name` uses, directly or not, each after what it uses itself."""
        graph = self.digraph()
        if name not in graph:
            return []
        above = nx.ancestors(graph, name)
        return [n for wave in algorithms.waves(graph.subgraph(above), key=str) for n in wave]

    def downstream(self, name: str) -> list[str]:
        """The environments that use `name`, directly or not, each after what it uses."""
        graph = self.digraph()
        if name not in graph:
            return []
        below = nx.descendants(graph, name)
        return [n for wave in algorithms.waves(graph.subgraph(below), key=str) for n in wave]


def linkable(upstreams: Mapping[str, Environment | None]) -> dict[str, dict[str, SpecModel]]:
    """The items of the used environments that a link may name, by section, keyed by the
    reference that names them (`${env.network.subnet.public-a.id}`), each as seen from
    the environment that uses them (`seen_from`)."""
    found: dict[str, dict[str, SpecModel]] = {}
    for environment, upstream in upstreams.items():
        if upstream is None:
            continue
        for spec in SPEC_KINDS:
            if spec.identity is None:
                continue
            for name, item in spec.items(upstream).items():
                key = str(placement(environment, spec.kind, name))
                found.setdefault(spec.section, {})[key] = seen_from(environment, spec, item)
    return found


def seen_from(environment: str, spec: SpecKind[M], item: M) -> M:
    """`item` of `environment` with the names its links give written as another environment
    writes them: a subnet's `network: main` becomes `${env.network.network.main.id}`, so
    it compares equal with a security group placed in that network from elsewhere."""
    update: dict[str, Any] = {}
    for link in spec.links:
        target = SECTIONS[link.section]
        if target.identity is None:
            continue
        names = link.values(item)
        seen = [
            name if name.startswith("${") else str(placement(environment, target.kind, name))
            for _path, name in names
        ]
        value = getattr(item, link.field)
        update[link.field] = seen[0] if isinstance(value, str) else seen
    return item.model_copy(update=update)


# -- checks ------------------------------------------------------------------------------

UpstreamLoader = Callable[[Path], Environment | None]


def load_upstreams(
    env: Environment, doc: LocatedDocument, folder: Path, load: UpstreamLoader
) -> tuple[dict[str, Environment | None], list[Diagnostic]]:
    """The environments `env` uses, loaded from `folder`, and every problem with its `uses`.

    Each used environment must exist, differ from `env`, keep its state in the same
    backend and run on the same cloud, and no chain of `uses` may lead back to `env`.
    """
    graph = EnvironmentGraph.of_folder(folder)
    found: list[Diagnostic] = []
    upstreams: dict[str, Environment | None] = {}
    for index, name in enumerate(env.uses):
        path: FieldPath = (USES, index)
        where = doc.locate(path)
        if name == env.name:
            found.append(Diagnostic(where, path, f"environment '{name}' cannot use itself"))
            continue
        if name not in graph.uses:
            known = sorted(n for n in graph.uses if n != env.name)
            found.append(
                Diagnostic(where, path, f"uses unknown environment '{name}'{suggest(name, known)}")
            )
            continue
        file = next(
            folder / f"{name}{s}" for s in SPEC_SUFFIXES if (folder / f"{name}{s}").is_file()
        )
        upstream = load(file)
        upstreams[name] = upstream
        if upstream is None:
            found.append(Diagnostic(where, path, f"environment '{name}' does not load"))
            continue
        if upstream.cloud != env.cloud:
            found.append(
                Diagnostic(
                    where,
                    path,
                    f"uses '{name}', which runs on cloud '{upstream.cloud}', not "
                    f"'{env.cloud}': environments that use each other share a cloud",
                )
            )
        if upstream.state != env.state:
            found.append(
                Diagnostic(
                    where,
                    path,
                    f"uses '{name}', whose state is kept in {upstream.state or 'the state folder'}"
                    f", not {env.state or 'the state folder'}: environments that use each "
                    "other share a state backend (and its secrets passphrase)",
                )
            )
    for cycle in graph.cycles_through(env.name):
        if len(cycle) < 2:
            continue
        index = env.uses.index(cycle[1]) if cycle[1] in env.uses else 0
        path = (USES, index)
        members = " -> ".join([*cycle, cycle[0]])
        found.append(
            Diagnostic(doc.locate(path), path, f"environments use each other in a cycle: {members}")
        )
    return upstreams, found


def check_environment_reference(
    env: Environment, ctx: CheckContext, path: FieldPath, expression: str, *, reads_secrets: bool
) -> Iterator[Diagnostic]:
    """`${env.NAME....}`: a used environment, and a resource or output it has."""
    try:
        reference = parse_environment_reference(expression)
    except ValueError as error:
        yield ctx.problem(path, str(error))
        return
    name = reference.environment
    if name not in env.uses:
        yield ctx.problem(
            path,
            f"${{{expression}}} reads environment '{name}', which this environment does not "
            f"use (add it to `uses:`)",
        )
        return
    upstream = ctx.upstreams.get(name)
    if upstream is None:
        return  # reported at its `uses` entry
    if reference.output is not None:
        if reference.output not in upstream.outputs:
            yield ctx.problem(
                path,
                f"${{{expression}}}: environment '{name}' has no output "
                f"'{reference.output}'{suggest(reference.output, list(upstream.outputs))}",
            )
        return
    assert reference.resource is not None
    target = reference.resource.target
    spec = spec_kind(target.kind)
    if reference.resource.attribute in spec.secrets and not reads_secrets:
        yield ctx.problem(
            path,
            f"${{{expression}}} is a secret: only roles' and VM groups' vars may read it",
        )
        return
    names = list(upstream.resources.get(spec.section, {}))
    if target.name not in names:
        yield ctx.problem(
            path,
            f"${{{expression}}}: environment '{name}' has no {target.kind.value} "
            f"'{target.name}'{suggest(target.name, names)}",
        )
