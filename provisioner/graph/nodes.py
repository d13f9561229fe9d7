"""Typed graph nodes: one frozen dataclass per resource kind, keyed by Address."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.spec.addresses import Address, ResourceKind


@dataclass(frozen=True, eq=False)
class Node:
    """A resource to create or configure."""

    address: Address
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> ResourceKind:
        return self.address.kind

    def attributes(self) -> dict[str, Any]:
        """The node's settings, for display and JSON (no secrets live in nodes)."""
        return {}


@dataclass(frozen=True, eq=False)
class NetworkNode(Node):
    cidr: str = ""

    def attributes(self) -> dict[str, Any]:
        return {"cidr": self.cidr}


@dataclass(frozen=True, eq=False)
class SubnetNode(Node):
    network: Address = field(default_factory=lambda: Address(ResourceKind.NETWORK, "?"))
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
    network: Address = field(default_factory=lambda: Address(ResourceKind.NETWORK, "?"))
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


@dataclass(frozen=True, eq=False)
class KeyPairNode(Node):
    key_type: str = "ed25519"

    def attributes(self) -> dict[str, Any]:
        return {"type": self.key_type}


@dataclass(frozen=True, eq=False)
class VmNode(Node):
    instance_type: str = ""
    image: str = ""
    subnet: Address = field(default_factory=lambda: Address(ResourceKind.SUBNET, "?"))
    security_groups: tuple[Address, ...] = ()
    key_pair: Address | None = None
    roles: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hostname(self) -> str:
        """`web-0` for vm.web[0]."""
        return f"{self.address.name}-{self.address.index}"

    def attributes(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "instance_type": self.instance_type,
            "image": self.image,
            "subnet": str(self.subnet),
            "security_groups": [str(a) for a in self.security_groups],
            "key_pair": str(self.key_pair) if self.key_pair else None,
            "roles": list(self.roles),
            "vars": dict(self.vars),
        }


@dataclass(frozen=True, eq=False)
class SoftwareNode(Node):
    role: str = ""
    playbook: str = ""
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> Address:
        assert self.address.host is not None
        return self.address.host

    def attributes(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "host": str(self.host),
            "playbook": self.playbook,
            "vars": dict(self.vars),
        }
