"""sg.NAME: a security group in its network; a group its rules name is made first."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from provisioner.graph.kind import GraphKind, Target, addressed, edge_from, link_target
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.kinds.security_group import SECURITY_GROUP, SECURITY_GROUPS, RuleSpec
from provisioner.spec.model import Environment


@dataclass(frozen=True)
class Rule:
    """A security-group rule with its peer resolved to a CIDR or a group address."""

    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str | None
    group: Address | None
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "from_port": self.from_port,
            "to_port": self.to_port,
            "cidr": self.cidr,
            "group": str(self.group) if self.group else None,
            "description": self.description,
        }


@dataclass(frozen=True, eq=False)
class SecurityGroupNode(Node):
    network: Target = field(default_factory=lambda: Address(NETWORK, "?"))
    description: str = ""
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()

    def attributes(self) -> dict[str, Any]:
        return {
            "network": str(self.network),
            "description": self.description,
            "ingress": [rule.to_json() for rule in self.ingress],
            "egress": [rule.to_json() for rule in self.egress],
        }


def _build(env: Environment) -> Iterator[SecurityGroupNode | Edge]:
    for address, spec in addressed(SECURITY_GROUPS, env):
        name = address.name
        network = link_target(NETWORK, spec.network)
        yield SecurityGroupNode(
            address,
            dict(env.tags),
            network,
            spec.description,
            tuple(_rule(rule) for rule in spec.ingress),
            tuple(_rule(rule) for rule in spec.egress),
        )
        at_network = ("security_groups", name, "network")
        yield from edge_from(network, address, EdgeReason.CONTAINS, at_network)
        for direction, index, rule in spec.rules():
            if rule.group is not None and rule.group != name:  # self-reference: no wait
                peer = Address(SECURITY_GROUP, rule.group)
                origin = ("security_groups", name, direction, index, "group")
                yield Edge(peer, address, EdgeReason.PEER, origin)


def _rule(rule: RuleSpec) -> Rule:
    low, high = rule.ports if rule.ports is not None else (None, None)
    return Rule(
        protocol=rule.protocol,
        from_port=low,
        to_port=high,
        cidr=str(rule.cidr) if rule.cidr is not None else None,
        group=Address(SECURITY_GROUP, rule.group) if rule.group else None,
        description=rule.description,
    )


SECURITY_GROUP_GRAPH = GraphKind(SECURITY_GROUPS, _build, colour="#f28e2b")
