"""network.NAME: a VPC."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from provisioner.graph.kind import GraphKind, addressed, tags
from provisioner.graph.nodes import Node
from provisioner.spec.kinds.network import NETWORKS
from provisioner.spec.model import Environment


@dataclass(frozen=True, eq=False)
class NetworkNode(Node):
    cidr: str = ""

    def attributes(self) -> dict[str, Any]:
        return {"cidr": self.cidr}


def _build(env: Environment) -> Iterator[NetworkNode]:
    for address, spec in addressed(NETWORKS, env):
        yield NetworkNode(address, tags(env, spec.tags), str(spec.cidr))


NETWORK_GRAPH = GraphKind(NETWORKS, _build, colour="#4e79a7")
