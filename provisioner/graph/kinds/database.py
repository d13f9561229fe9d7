"""db.NAME: a database instance in its DB subnet group, using its subnets and security groups."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from provisioner.graph.kind import GraphKind, Target, addressed, edge_from, link_target, tags
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.kinds.database import DATABASES
from provisioner.spec.kinds.security_group import SECURITY_GROUP
from provisioner.spec.kinds.subnet import SUBNET
from provisioner.spec.model import Environment


@dataclass(frozen=True, eq=False)
class DatabaseNode(Node):
    engine: str = "postgres"
    engine_version: str = ""
    instance_class: str = ""
    allocated_storage: int = 0
    subnets: tuple[Target, ...] = ()
    security_groups: tuple[Target, ...] = ()
    database_name: str = ""
    username: str = ""
    deletion_protection: bool = False
    allow_major_version_upgrade: bool = False

    def attributes(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "engine_version": self.engine_version,
            "instance_class": self.instance_class,
            "allocated_storage": self.allocated_storage,
            "subnets": [str(a) for a in self.subnets],
            "security_groups": [str(a) for a in self.security_groups],
            "name": self.database_name,
            "username": self.username,
            "deletion_protection": self.deletion_protection,
            "allow_major_version_upgrade": self.allow_major_version_upgrade,
        }


def _build(env: Environment) -> Iterator[DatabaseNode | Edge]:
    for address, spec in addressed(DATABASES, env):
        # A name listed twice is reported by the spec checks; the graph takes it once.
        subnets = tuple(link_target(SUBNET, s) for s in dict.fromkeys(spec.subnets))
        groups = tuple(link_target(SECURITY_GROUP, g) for g in dict.fromkeys(spec.security_groups))
        yield DatabaseNode(
            address,
            tags(env, spec.tags),
            spec.engine,
            spec.engine_version,
            spec.instance_class,
            spec.allocated_storage,
            subnets,
            groups,
            spec.name,
            spec.username,
            spec.deletion_protection,
            spec.allow_major_version_upgrade,
        )
        origin = ("databases", address.name)
        for index, subnet in enumerate(subnets):
            yield from edge_from(subnet, address, EdgeReason.USES, (*origin, "subnets", index))
        for index, group in enumerate(groups):
            at = (*origin, "security_groups", index)
            yield from edge_from(group, address, EdgeReason.USES, at)


DATABASE_GRAPH = GraphKind(DATABASES, _build, colour="#e15759")
