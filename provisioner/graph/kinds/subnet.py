"""subnet.NAME: a subnet, contained in its network."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from provisioner.graph.kind import GraphKind, addressed, tags
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.kinds.subnet import SUBNETS, availability_zone
from provisioner.spec.model import Environment


@dataclass(frozen=True, eq=False)
class SubnetNode(Node):
    network: Address = field(default_factory=lambda: Address(NETWORK, "?"))
    cidr: str = ""
    availability_zone: str = ""
    public: bool = False

    def attributes(self) -> dict[str, Any]:
        return {
            "network": str(self.network),
            "cidr": self.cidr,
            "availability_zone": self.availability_zone,
            "public": self.public,
        }


def _build(env: Environment) -> Iterator[SubnetNode | Edge]:
    for address, spec in addressed(SUBNETS, env):
        network = Address(NETWORK, spec.network)
        yield SubnetNode(
            address,
            tags(env, spec.tags),
            network,
            str(spec.cidr),
            availability_zone(env, spec),
            spec.public,
        )
        yield Edge(network, address, EdgeReason.CONTAINS, ("subnets", address.name, "network"))


SUBNET_GRAPH = GraphKind(SUBNETS, _build, colour="#76b7b2")
