"""ResourceGraph: typed nodes keyed by Address, with edges that say why they exist."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import networkx as nx

from provisioner.dag import algorithms as dag
from provisioner.errors import ProvisionError
from provisioner.graph.nodes import Node
from provisioner.spec.addresses import Address, ResourceKind
from provisioner.spec.diagnostics import FieldPath


class EdgeReason(StrEnum):
    """Why a node depends on another."""

    CONTAINS = "contains"  # network -> subnet, vm -> its software
    USES = "uses"  # subnet / security group / key pair -> vm
    PEER = "peer"  # a security group whose rules name another group
    ORDER = "order"  # roles on one VM run in the order listed
    AFTER = "after"  # a role's `after:` list
    REFERENCE = "reference"  # a `${...}` value


@dataclass(frozen=True)
class Edge:
    """`source` must be done before `target`; `origin` is the spec field that made the edge."""

    source: Address
    target: Address
    reason: EdgeReason
    origin: FieldPath


class GraphError(ProvisionError):
    """The graph breaks an invariant (a cycle, a dangling edge)."""


class ResourceGraph:
    """The environment's resources and their dependencies."""

    def __init__(self, environment: str) -> None:
        self.environment = environment
        self._graph = nx.DiGraph()
        # Derived from the edges, so dropped whenever a node or an edge is added.
        self._waves: list[list[Address]] | None = None
        self._cycles: list[list[Address]] | None = None

    def __len__(self) -> int:
        return int(self._graph.number_of_nodes())

    def __contains__(self, address: object) -> bool:
        return address in self._graph

    def add_node(self, node: Node) -> None:
        if node.address in self._graph:
            raise GraphError(f"duplicate address {node.address}")
        self._graph.add_node(node.address, node=node)
        self._waves = self._cycles = None

    def add_edge(
        self, source: Address, target: Address, reason: EdgeReason, origin: FieldPath
    ) -> None:
        """Record that `target` depends on `source`; the first reason given is kept."""
        if source not in self._graph or target not in self._graph:
            raise GraphError(f"edge {source} -> {target} names a node that does not exist")
        if not self._graph.has_edge(source, target):
            self._graph.add_edge(source, target, edge=Edge(source, target, reason, origin))
            self._waves = self._cycles = None

    def node(self, address: Address) -> Node:
        found: Node = self._graph.nodes[address]["node"]
        return found

    def nodes(self) -> list[Node]:
        """Every node, in address order."""
        return [self.node(a) for a in sorted(self._graph)]

    def addresses(self) -> list[Address]:
        return sorted(self._graph)

    def edges(self) -> list[Edge]:
        """Every edge, ordered by source then target."""
        found = [data["edge"] for _, _, data in self._graph.edges(data=True)]
        return sorted(found, key=lambda e: (e.source.sort_key(), e.target.sort_key()))

    def edge(self, source: Address, target: Address) -> Edge:
        found: Edge = self._graph.edges[source, target]["edge"]
        return found

    def dependencies(self, address: Address) -> list[Address]:
        """Direct dependencies of `address`."""
        return sorted(self._graph.predecessors(address))

    def dependents(self, address: Address) -> list[Address]:
        """Nodes that directly depend on `address`."""
        return sorted(self._graph.successors(address))

    def of_kind(self, kind: ResourceKind) -> Iterator[Node]:
        return (node for node in self.nodes() if node.kind is kind)

    def cycles(self) -> list[list[Address]]:
        if self._cycles is None:
            self._cycles = dag.cycles(self._graph, key=Address.sort_key)
        return self._cycles

    def waves(self) -> list[list[Address]]:
        """Parallel waves in a deterministic order; the graph must be acyclic."""
        if self._waves is None:
            self._waves = dag.waves(self._graph, key=Address.sort_key)
        return self._waves

    def wave_of(self) -> dict[Address, int]:
        return {address: i for i, wave in enumerate(self.waves()) for address in wave}

    def critical_path(
        self, weight: Callable[[Node], float] | None = None
    ) -> tuple[list[Address], float]:
        """The heaviest chain of dependencies; by default every node weighs 1."""
        weigh = (lambda _a: 1.0) if weight is None else (lambda a: weight(self.node(a)))
        return dag.critical_path(self._graph, weigh, key=Address.sort_key)

    def validate(self) -> None:
        """Check the invariants: acyclic, and every edge between kinds that may depend."""
        found = self.cycles()
        if found:
            shown = "; ".join(" -> ".join(map(str, [*c, c[0]])) for c in found)
            raise GraphError(f"dependency cycle: {shown}")
        for source, target in self._graph.edges:
            if not target.kind.may_depend_on(source.kind):
                raise GraphError(f"{target} ({target.kind.value}) cannot depend on {source}")

    def to_json(self) -> dict[str, Any]:
        """Nodes with their wave and attributes, edges with reasons, waves and critical path."""
        wave = self.wave_of()
        path, length = self.critical_path()
        return {
            "environment": self.environment,
            "nodes": [
                {
                    "address": str(node.address),
                    "kind": node.kind.value,
                    "wave": wave[node.address],
                    "attributes": node.attributes(),
                }
                for node in self.nodes()
            ],
            "edges": [
                {"from": str(e.source), "to": str(e.target), "reason": e.reason.value}
                for e in self.edges()
            ],
            "waves": [[str(a) for a in w] for w in self.waves()],
            "critical_path": {"nodes": [str(a) for a in path], "length": length},
        }
