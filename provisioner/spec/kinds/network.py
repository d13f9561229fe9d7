"""networks: VPCs."""

from __future__ import annotations

from pydantic import Field

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.kind import SpecKind
from provisioner.spec.model import Cidr, SpecModel

NETWORK = ResourceKind.declare("network")


class NetworkSpec(SpecModel):
    """A VPC."""

    cidr: Cidr
    tags: dict[str, str] = Field(default_factory=dict)


NETWORKS = SpecKind(
    NETWORK, "networks", NetworkSpec, attributes=frozenset({"id", "cidr"}), identity="id"
)
