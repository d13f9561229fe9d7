"""subnet.NAME: a subnet, contained in its network."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from provisioner.graph.kind import GraphKind, Target, addressed, link_target, tags
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.kinds.subnet import SUBNETS, availability_zone
from provisioner.spec.model import Environment
from provisioner.spec.uses import seen_from


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


def network_of(env: Environment, subnet: Target) -> Target | None:
    """The network a subnet is in: this environment's subnet, or one of an environment it
    uses (whose network is then that environment's too); None for an unknown subnet."""
    if isinstance(subnet, Address):
        spec = SUBNETS.items(env).get(subnet.name)
        return link_target(NETWORK, spec.network) if spec is not None else None
    upstream = env.used.get(subnet.environment)
    if upstream is None or subnet.resource is None:
        return None
    found = SUBNETS.items(upstream).get(subnet.resource.target.name)
    if found is None:
        return None
    return link_target(NETWORK, seen_from(subnet.environment, SUBNETS, found).network)


SUBNET_GRAPH = GraphKind(SUBNETS, _build, colour="#76b7b2")
