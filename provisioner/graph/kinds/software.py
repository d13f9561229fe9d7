"""software.ROLE@vm.NAME[i]: one role on one VM, after the VM and the roles before it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.graph.kind import GraphKind, reference_edges
from provisioner.graph.kinds.vm import vm_address
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.software import ROLES, SOFTWARE
from provisioner.spec.kinds.vm import VMS
from provisioner.spec.model import Environment


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


def software_address(role: str, host: Address) -> Address:
    """software.ROLE@HOST."""
    return Address(SOFTWARE, role, None, host)


def _build(env: Environment) -> Iterator[SoftwareNode | Edge]:
    groups, roles = VMS.items(env), ROLES.items(env)
    for name in sorted(groups):
        spec = groups[name]
        on_each = [role for role in dict.fromkeys(spec.roles) if role in roles]
        for index in range(spec.count):
            host = vm_address(name, index)
            previous: Address | None = None
            for position, role in enumerate(on_each):
                address = software_address(role, host)
                role_spec = roles[role]
                yield SoftwareNode(address, {}, role, role_spec.playbook, dict(role_spec.vars))
                origin = ("vms", name, "roles", position)
                yield Edge(host, address, EdgeReason.CONTAINS, origin)
                if previous is not None:
                    yield Edge(previous, address, EdgeReason.ORDER, origin)
                previous = address
    yield from _after_edges(env)
    for role in sorted(roles):
        yield from reference_edges(roles[role].vars, ("roles", role, "vars"), instances(env, role))
    for name in sorted(groups):
        spec = groups[name]
        consumers = [
            software_address(role, vm_address(name, index))
            for index in range(spec.count)
            for role in spec.roles
        ]
        yield from reference_edges(spec.vars, ("vms", name, "vars"), consumers)


def instances(env: Environment, role: str) -> list[Address]:
    """Every node of `role`: one per VM that runs it."""
    groups = VMS.items(env)
    return [
        software_address(role, vm_address(name, index))
        for name in sorted(groups)
        if role in groups[name].roles
        for index in range(groups[name].count)
    ]


def _after_edges(env: Environment) -> Iterator[Edge]:
    """Every instance of role D before every instance of role R when R is `after: [D]`."""
    roles = ROLES.items(env)
    for role in sorted(roles):
        dependents = instances(env, role)
        for index, before in enumerate(roles[role].after):
            origin = ("roles", role, "after", index)
            for source in instances(env, before):
                for target in dependents:
                    yield Edge(source, target, EdgeReason.AFTER, origin)


SOFTWARE_GRAPH = GraphKind(ROLES, _build, colour="#b07aa1")
