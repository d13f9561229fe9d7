"""Compile a validated environment into its ResourceGraph.

Edges (dependency -> dependent):
- containment: network -> subnet, network -> security group, vm -> its software;
- use: subnet, security groups and key pair -> each VM that uses them;
- peer: a group named in another group's rule -> that group;
- order: roles on one VM run in the order listed;
- after: every instance of role D -> every instance of role R when R is `after: [D]`;
- reference: the resource a `${...}` reads -> the software that uses the value.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import networkx as nx

from provisioner.graph.nodes import (
    KeyPairNode,
    NetworkNode,
    Rule,
    SecurityGroupNode,
    SoftwareNode,
    SubnetNode,
    VmNode,
)
from provisioner.graph.resource_graph import EdgeReason, ResourceGraph
from provisioner.spec.addresses import Address, ResourceKind
from provisioner.spec.diagnostics import Diagnostic, FieldPath, SpecError
from provisioner.spec.limits import DEFAULT_LIMITS, Limits
from provisioner.spec.loader import EnvironmentSource, check_source
from provisioner.spec.model import Environment, RuleSpec
from provisioner.spec.references import find_expressions, parse_reference
from provisioner.spec.yamldoc import LocatedDocument


@dataclass(frozen=True)
class CompiledEnvironment:
    """A validated environment, its graph, and where it came from."""

    source: EnvironmentSource
    environment: Environment
    graph: ResourceGraph


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
        graph = build_graph(_one_vm_per_group(result.environment))
    diagnostics = list(result.diagnostics)
    if result.document is not None:
        diagnostics += _cycle_diagnostics(result.environment, graph, result.document)
    if diagnostics:
        raise SpecError(diagnostics)
    graph.validate()
    return CompiledEnvironment(source, result.environment, graph)


def _one_vm_per_group(env: Environment) -> Environment:
    """`env` with each VM group's count cut to at most 1.

    The VMs of one group are alike (`after:` links every instance of a role to every
    instance of the next, `order:` stays within a VM), so this small graph has a cycle
    exactly when the full one does, and costs nothing to build.
    """
    vms = {
        name: group.model_copy(update={"count": min(group.count, 1)})
        for name, group in env.vms.items()
    }
    return env.model_copy(update={"vms": vms})


def compile_environment(environment: Environment) -> ResourceGraph:
    """Build and validate the graph of an already valid environment."""
    graph = build_graph(environment)
    graph.validate()
    return graph


def build_graph(env: Environment) -> ResourceGraph:
    """Build the graph without validating it; dangling names (in a partial spec) add no edge."""
    builder = _Builder(env)
    builder.build()
    return builder.graph


class _Builder:
    def __init__(self, env: Environment) -> None:
        self.env = env
        self.graph = ResourceGraph(env.name)

    def build(self) -> None:
        env = self.env
        for name in sorted(env.networks):
            self._network(name)
        for name in sorted(env.subnets):
            self._subnet(name)
        for name in sorted(env.security_groups):
            self._security_group(name)
        for name in sorted(env.key_pairs):
            spec = env.key_pairs[name]
            self.graph.add_node(
                KeyPairNode(Address(ResourceKind.KEY_PAIR, name), dict(env.tags), spec.type)
            )
        for name in sorted(env.security_groups):
            self._peer_edges(name)
        for name in sorted(env.vms):
            self._vm_group(name)
        self._after_edges()
        self._reference_edges()

    def _tags(self, extra: dict[str, str]) -> dict[str, str]:
        return {**self.env.tags, **extra}

    def _edge(
        self, source: Address, target: Address, reason: EdgeReason, origin: FieldPath
    ) -> None:
        if source in self.graph and target in self.graph:
            self.graph.add_edge(source, target, reason, origin)

    def _network(self, name: str) -> None:
        spec = self.env.networks[name]
        address = Address(ResourceKind.NETWORK, name)
        self.graph.add_node(NetworkNode(address, self._tags(spec.tags), str(spec.cidr)))

    def _subnet(self, name: str) -> None:
        spec = self.env.subnets[name]
        address = Address(ResourceKind.SUBNET, name)
        network = Address(ResourceKind.NETWORK, spec.network)
        self.graph.add_node(
            SubnetNode(
                address,
                self._tags(spec.tags),
                network,
                str(spec.cidr),
                self.env.availability_zone(spec),
                spec.public,
            )
        )
        self._edge(network, address, EdgeReason.CONTAINS, ("subnets", name, "network"))

    def _security_group(self, name: str) -> None:
        spec = self.env.security_groups[name]
        address = Address(ResourceKind.SECURITY_GROUP, name)
        network = Address(ResourceKind.NETWORK, spec.network)
        node = SecurityGroupNode(
            address,
            dict(self.env.tags),
            network,
            spec.description,
            tuple(_rule(rule) for rule in spec.ingress),
            tuple(_rule(rule) for rule in spec.egress),
        )
        self.graph.add_node(node)
        self._edge(network, address, EdgeReason.CONTAINS, ("security_groups", name, "network"))

    def _peer_edges(self, name: str) -> None:
        spec = self.env.security_groups[name]
        address = Address(ResourceKind.SECURITY_GROUP, name)
        for direction in ("ingress", "egress"):
            rules: list[RuleSpec] = getattr(spec, direction)
            for index, rule in enumerate(rules):
                if rule.group is not None and rule.group != name:  # self-reference: no wait
                    peer = Address(ResourceKind.SECURITY_GROUP, rule.group)
                    origin = ("security_groups", name, direction, index, "group")
                    self._edge(peer, address, EdgeReason.PEER, origin)

    def _vm_group(self, name: str) -> None:
        spec = self.env.vms[name]
        subnet = Address(ResourceKind.SUBNET, spec.subnet)
        # A name listed twice is reported by the spec checks; the graph takes it once.
        groups = tuple(
            Address(ResourceKind.SECURITY_GROUP, g) for g in dict.fromkeys(spec.security_groups)
        )
        key = Address(ResourceKind.KEY_PAIR, spec.key_pair) if spec.key_pair else None
        roles = tuple(role for role in dict.fromkeys(spec.roles) if role in self.env.roles)
        for index in range(spec.count):
            address = Address.vm(name, index)
            self.graph.add_node(
                VmNode(
                    address,
                    self._tags(spec.tags),
                    spec.instance_type,
                    spec.image,
                    subnet,
                    groups,
                    key,
                    roles,
                    dict(spec.vars),
                )
            )
            origin = ("vms", name)
            self._edge(subnet, address, EdgeReason.USES, (*origin, "subnet"))
            for position, group in enumerate(groups):
                self._edge(group, address, EdgeReason.USES, (*origin, "security_groups", position))
            if key is not None:
                self._edge(key, address, EdgeReason.USES, (*origin, "key_pair"))
            previous: Address | None = None
            for position, role in enumerate(roles):
                software = Address.software(role, address)
                role_spec = self.env.roles[role]
                self.graph.add_node(
                    SoftwareNode(software, {}, role, role_spec.playbook, dict(role_spec.vars))
                )
                self._edge(address, software, EdgeReason.CONTAINS, (*origin, "roles", position))
                if previous is not None:
                    self._edge(previous, software, EdgeReason.ORDER, (*origin, "roles", position))
                previous = software

    def _instances(self, role: str) -> list[Address]:
        return [
            Address.software(role, Address.vm(name, index))
            for name in sorted(self.env.vms)
            if role in self.env.vms[name].roles
            for index in range(self.env.vms[name].count)
        ]

    def _after_edges(self) -> None:
        for role in sorted(self.env.roles):
            spec = self.env.roles[role]
            dependents = self._instances(role)
            for index, before in enumerate(spec.after):
                origin = ("roles", role, "after", index)
                for source in self._instances(before):
                    for target in dependents:
                        self._edge(source, target, EdgeReason.AFTER, origin)

    def _reference_edges(self) -> None:
        for role in sorted(self.env.roles):
            path: FieldPath = ("roles", role, "vars")
            self._references_into(self.env.roles[role].vars, path, self._instances(role))
        for name in sorted(self.env.vms):
            spec = self.env.vms[name]
            consumers = [
                Address.software(role, Address.vm(name, index))
                for index in range(spec.count)
                for role in spec.roles
            ]
            self._references_into(spec.vars, ("vms", name, "vars"), consumers)

    def _references_into(
        self, value: object, path: FieldPath, consumers: Iterable[Address]
    ) -> None:
        targets = list(consumers)
        for where, expression in find_expressions(value, path):
            try:
                source = parse_reference(expression).target
            except ValueError:
                continue  # already reported by the spec checks
            for target in targets:
                if source != target:
                    self._edge(source, target, EdgeReason.REFERENCE, where)


def _rule(rule: RuleSpec) -> Rule:
    low, high = rule.ports if rule.ports is not None else (None, None)
    return Rule(
        protocol=rule.protocol,
        from_port=low,
        to_port=high,
        cidr=str(rule.cidr) if rule.cidr is not None else None,
        group=Address(ResourceKind.SECURITY_GROUP, rule.group) if rule.group else None,
        description=rule.description,
    )


def _after_cycle_among_roles(env: Environment, ring: list[Address]) -> bool:
    """True if the `after:` lists of the roles in `ring` form a cycle by themselves."""
    roles = {a.name for a in ring if a.kind is ResourceKind.SOFTWARE}
    after = nx.DiGraph(
        (before, role) for role in roles for before in env.roles[role].after if before in roles
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
