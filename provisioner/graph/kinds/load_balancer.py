"""lb.NAME: a load balancer in its subnets, with its target group, listeners and targets as parts.

The target group, each listener (`lb.web/listener-80`) and each registered
instance (`lb.web/target-web-0`) are resources of the one node, as a zone's
records are: the node waits for its subnets, its security groups and every
instance of its VM group, whose registrations come and go with the group's count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from provisioner.graph.kind import GraphKind, Target, addressed, edge_from, link_target, tags
from provisioner.graph.kinds.subnet import network_of
from provisioner.graph.kinds.vm import vm_address
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.load_balancer import (
    LOAD_BALANCERS,
    load_balancer_name,
    target_group_name,
)
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.kinds.security_group import SECURITY_GROUP
from provisioner.spec.kinds.subnet import SUBNET
from provisioner.spec.kinds.vm import VMS
from provisioner.spec.model import Environment


@dataclass(frozen=True)
class Listener:
    """A port the load balancer listens on (forwarding to its target group)."""

    port: int
    protocol: str


@dataclass(frozen=True)
class HealthCheck:
    """GET `path` on each target every `interval` seconds, waiting `timeout` for an answer;
    healthy after `healthy_threshold` successes in a row, unhealthy after
    `unhealthy_threshold` failures."""

    path: str = "/"
    interval: int = 30
    timeout: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TargetGroup:
    """The instances behind the load balancer: `port` on each VM of `targets`."""

    name: str
    port: int
    protocol: str
    health_check: HealthCheck
    targets: tuple[Address, ...] = ()


@dataclass(frozen=True, eq=False)
class LoadBalancerNode(Node):
    lb_name: str = ""
    network: Target = field(default_factory=lambda: Address(NETWORK, "?"))
    subnets: tuple[Target, ...] = ()
    security_groups: tuple[Target, ...] = ()
    internal: bool = True
    listeners: tuple[Listener, ...] = ()
    target_group: TargetGroup = field(default_factory=lambda: TargetGroup("", 0, "", HealthCheck()))

    def attributes(self) -> dict[str, Any]:
        group = self.target_group
        return {
            "name": self.lb_name,
            "subnets": [str(a) for a in self.subnets],
            "security_groups": [str(a) for a in self.security_groups],
            "internal": self.internal,
            "listeners": [{"port": li.port, "protocol": li.protocol} for li in self.listeners],
            "target_group": {
                "name": group.name,
                "port": group.port,
                "protocol": group.protocol,
                "health_check": group.health_check.to_json(),
                "targets": [str(a) for a in group.targets],
            },
        }


def _build(env: Environment) -> Iterator[LoadBalancerNode | Edge]:
    vm_groups = VMS.items(env)
    for address, spec in addressed(LOAD_BALANCERS, env):
        path = ("load_balancers", address.name)
        # Names listed twice are reported by the spec checks; the graph takes each once.
        subnet_names = list(dict.fromkeys(spec.subnets))
        group_names = list(dict.fromkeys(spec.security_groups))
        given = spec.target_group
        vm_group = vm_groups.get(given.targets)
        targets = tuple(
            vm_address(given.targets, index)
            for index in range(vm_group.count if vm_group is not None else 0)
        )
        subnets = tuple(link_target(SUBNET, n) for n in subnet_names)
        groups = tuple(link_target(SECURITY_GROUP, g) for g in group_names)
        networks = (network_of(env, subnet) for subnet in subnets)
        network = next((n for n in networks if n is not None), Address(NETWORK, "?"))
        yield LoadBalancerNode(
            address,
            tags(env, spec.tags),
            load_balancer_name(env.name, address.name),
            network,
            subnets,
            groups,
            spec.internal,
            tuple(Listener(li.port, li.protocol) for li in spec.listeners),
            TargetGroup(
                target_group_name(env.name, address.name, given),
                given.port,
                given.protocol,
                HealthCheck(**given.health_check.model_dump()),
                targets,
            ),
        )
        for name, subnet in zip(subnet_names, subnets, strict=True):
            origin = (*path, "subnets", spec.subnets.index(name))
            yield from edge_from(subnet, address, EdgeReason.USES, origin)
        for name, group in zip(group_names, groups, strict=True):
            origin = (*path, "security_groups", spec.security_groups.index(name))
            yield from edge_from(group, address, EdgeReason.USES, origin)
        for target in targets:
            yield Edge(target, address, EdgeReason.USES, (*path, "target_group", "targets"))


LOAD_BALANCER_GRAPH = GraphKind(LOAD_BALANCERS, _build, colour="#b07aa1")
