"""Compile a validated environment into its ResourceGraph.

One loop over the kinds (`graph/kinds/`), each after the kinds it may depend on:
every kind's builder yields its nodes and the edges into them, which say why they
exist (containment, use, peer groups, role order, `after:`, `${...}` references).
Edges are added once every node is: one that names a missing node (a dangling
name in a partial spec, already reported) is dropped.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import networkx as nx

from provisioner.graph.kinds import GRAPH_KINDS
from provisioner.graph.resource_graph import Edge, EdgeReason, ResourceGraph
from provisioner.spec.addresses import Address
from provisioner.spec.diagnostics import Diagnostic, SpecError
from provisioner.spec.kinds import SPEC_KINDS
from provisioner.spec.kinds.software import ROLES, SOFTWARE
from provisioner.spec.limits import DEFAULT_LIMITS, Limits
from provisioner.spec.loader import EnvironmentSource, check_source
from provisioner.spec.model import Environment
from provisioner.spec.yamldoc import LocatedDocument


@dataclass(frozen=True)
class CompiledEnvironment:
    """A validated environment, its graph, and where it came from (`document`: where each
    field is, for problems found later, such as a change the cloud refuses)."""

    source: EnvironmentSource
    environment: Environment
    graph: ResourceGraph
    document: LocatedDocument | None = None


def compile_source(
    source: EnvironmentSource, limits: Limits = DEFAULT_LIMITS
) -> CompiledEnvironment:
    """Load, validate and compile; raises SpecError with every problem, cycles included.

    A spec that would make more resources than `limits` allow is refused before its VM
    groups are expanded.
    """
    with _collection_paused():
        return _compile_source(source, limits)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while compiling.

    Compiling allocates many long-lived objects and no garbage cycles; on a large
    spec the collector would rescan them over and over, about doubling the time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compile_source(source: EnvironmentSource, limits: Limits) -> CompiledEnvironment:
    result = check_source(source, limits)
    if result.within_limits:
        graph = build_graph(result.environment)
    else:
        # Only for its cycle diagnostics: the SpecError below is certain.
        graph = build_graph(_smallest(result.environment))
    diagnostics = list(result.diagnostics)
    if result.document is not None:
        diagnostics += _cycle_diagnostics(result.environment, graph, result.document)
    if diagnostics:
        raise SpecError(diagnostics)
    graph.validate()
    return CompiledEnvironment(source, result.environment, graph, result.document)


def _smallest(env: Environment) -> Environment:
    """`env` with each item cut to the fewest nodes with the same dependencies.

    The VMs of one group are alike (`after:` links every instance of a role to every
    instance of the next, `order:` stays within a VM), so this small graph has a cycle
    exactly when the full one does, and costs nothing to build.
    """
    for spec in SPEC_KINDS:
        if spec.smallest is not None:
            cut = spec.smallest
            items = {name: cut(item) for name, item in spec.items(env).items()}
            env = env.with_section(spec.section, items)
    return env


def compile_environment(environment: Environment) -> ResourceGraph:
    """Build and validate the graph of an already valid environment."""
    graph = build_graph(environment)
    graph.validate()
    return graph


def build_graph(env: Environment) -> ResourceGraph:
    """Build the graph without validating it; dangling names (in a partial spec) add no edge."""
    graph = ResourceGraph(env.name)
    edges: list[Edge] = []
    for kind in GRAPH_KINDS:
        for built in kind.build(env):
            if isinstance(built, Edge):
                edges.append(built)
            else:
                graph.add_node(built)
    for edge in edges:
        if edge.source in graph and edge.target in graph:
            graph.add_edge(edge.source, edge.target, edge.reason, edge.origin)
    return graph


def _after_cycle_among_roles(env: Environment, ring: list[Address]) -> bool:
    """True if the `after:` lists of the roles in `ring` form a cycle by themselves."""
    roles = {a.name for a in ring if a.kind is SOFTWARE}
    specs = ROLES.items(env)
    after = nx.DiGraph(
        (before, role) for role in roles for before in specs[role].after if before in roles
    )
    return not nx.is_directed_acyclic_graph(after)


def _cycle_diagnostics(
    env: Environment, graph: ResourceGraph, doc: LocatedDocument
) -> list[Diagnostic]:
    diagnostics = []
    for cycle in graph.cycles():
        ring = [*cycle, cycle[0]]
        edges = [graph.edge(a, b) for a, b in itertools.pairwise(ring)]
        if _after_cycle_among_roles(env, ring):
            continue  # already reported once, among the roles, by the spec checks
        # Point at the edge a user is most likely to change: `after:` or a reference first.
        preferred = (EdgeReason.AFTER, EdgeReason.REFERENCE, EdgeReason.PEER, EdgeReason.ORDER)
        blame = min(edges, key=lambda e: preferred.index(e.reason) if e.reason in preferred else 9)
        members = " -> ".join(str(address) for address in ring)
        diagnostics.append(
            Diagnostic(doc.locate(blame.origin), blame.origin, f"dependency cycle: {members}")
        )
    return diagnostics
