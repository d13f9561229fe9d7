"""vm.NAME[i]: the instances of a VM group, each using its subnet, groups and key pair."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.graph.kind import GraphKind, Target, edge_from, link_target, tags
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.key_pair import KEY_PAIR
from provisioner.spec.kinds.security_group import SECURITY_GROUP
from provisioner.spec.kinds.software import ROLES
from provisioner.spec.kinds.subnet import SUBNET
from provisioner.spec.kinds.vm import VM, VMS
from provisioner.spec.model import Environment


@dataclass(frozen=True, eq=False)
class VmNode(Node):
    instance_type: str = ""
    image: str = ""
    subnet: Target = field(default_factory=lambda: Address(SUBNET, "?"))
    security_groups: tuple[Target, ...] = ()
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


def vm_address(group: str, index: int) -> Address:
    """vm.GROUP[INDEX]."""
    return Address(VM, group, index)


def _build(env: Environment) -> Iterator[VmNode | Edge]:
    groups, roles = VMS.items(env), ROLES.items(env)
    for name in sorted(groups):
        spec = groups[name]
        subnet = link_target(SUBNET, spec.subnet)
        # A name listed twice is reported by the spec checks; the graph takes it once.
        security_groups = tuple(
            link_target(SECURITY_GROUP, g) for g in dict.fromkeys(spec.security_groups)
        )
        key = Address(KEY_PAIR, spec.key_pair) if spec.key_pair else None
        on_each = tuple(role for role in dict.fromkeys(spec.roles) if role in roles)
        origin = ("vms", name)
        for index in range(spec.count):
            address = vm_address(name, index)
            yield VmNode(
                address,
                tags(env, spec.tags),
                spec.instance_type,
                spec.image,
                subnet,
                security_groups,
                key,
                on_each,
                dict(spec.vars),
            )
            yield from edge_from(subnet, address, EdgeReason.USES, (*origin, "subnet"))
            for position, group in enumerate(security_groups):
                at = (*origin, "security_groups", position)
                yield from edge_from(group, address, EdgeReason.USES, at)
            if key is not None:
                yield Edge(key, address, EdgeReason.USES, (*origin, "key_pair"))


VM_GRAPH = GraphKind(VMS, _build, colour="#59a14f")
