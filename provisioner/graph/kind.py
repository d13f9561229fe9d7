"""What the graph layer knows of a resource kind: how its spec items become nodes and edges.

Each kind's module under `provisioner/graph/kinds/` declares one `GraphKind`; the
compiler runs every kind's `build` in kind order and adds what it yields, the
way Terraform's graph transformers each add their part to one graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address, ResourceKind
from provisioner.spec.diagnostics import FieldPath
from provisioner.spec.kind import SpecKind
from provisioner.spec.model import Environment, SpecModel
from provisioner.spec.references import (
    EnvironmentReference,
    find_expressions,
    parse_link,
    parse_reference,
)

M = TypeVar("M", bound=SpecModel)

# A kind's nodes, and edges into them, from a valid environment. An edge may name a
# node that does not exist (a dangling name in a partial spec): it is then dropped.
Build = Callable[[Environment], Iterable[Node | Edge]]


@dataclass(frozen=True)
class GraphKind:
    """One resource kind in the graph: its spec declaration, its builder, its colour in drawings."""

    spec: SpecKind[Any]
    build: Build
    colour: str


def addressed(spec: SpecKind[M], env: Environment) -> Iterator[tuple[Address, M]]:
    """Each item of the kind in `env`, with its address, in name order."""
    items = spec.items(env)
    for name in sorted(items):
        yield Address(spec.kind, name), items[name]


# What a link names: a node of this environment's graph, or a resource of an environment it
# uses (`${env.network.subnet.public-a.id}`), which is not a node here: that environment
# is applied before this one, and the stacks read its value through a stack reference.
Target = Address | EnvironmentReference


def link_target(kind: ResourceKind, value: str) -> Target:
    """The target of one name a link field gives."""
    return parse_link(value, kind)


def edge_from(source: Target, target: Address, reason: EdgeReason, origin: FieldPath) -> list[Edge]:
    """The edge from what a link names to its user, when that is a node of this graph."""
    return [Edge(source, target, reason, origin)] if isinstance(source, Address) else []


def tags(env: Environment, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment's tags, then the item's own."""
    return {**env.tags, **extra}


def reference_edges(value: object, path: FieldPath, consumers: Iterable[Address]) -> Iterator[Edge]:
    """An edge from each resource a `${...}` in `value` reads to each consumer of the value."""
    targets = list(consumers)
    for where, expression in find_expressions(value, path):
        try:
            source = parse_reference(expression).target
        except ValueError:
            continue  # already reported by the spec checks
        for target in targets:
            if source != target:
                yield Edge(source, target, EdgeReason.REFERENCE, where)
