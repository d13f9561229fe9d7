"""network.NAME: a VPC."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from provisioner.graph.kind import GraphKind, tags
from provisioner.graph.nodes import Node
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.network import NETWORK, NETWORKS
from provisioner.spec.model import Environment


@dataclass(frozen=True, eq=False)
class NetworkNode(Node):
    cidr: str = ""

    def attributes(self) -> dict[str, Any]:
        return {"cidr": self.cidr}


def _build(env: Environment) -> Iterator[NetworkNode]:
    networks = NETWORKS.items(env)
    for name in sorted(networks):
        spec = networks[name]
        yield NetworkNode(Address(NETWORK, name), tags(env, spec.tags), str(spec.cidr))


NETWORK_GRAPH = GraphKind(NETWORKS, _build, colour="#4e79a7")
