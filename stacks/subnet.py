"""subnet.NAME: a subnet; public ones use their network's internet route table."""

from __future__ import annotations

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.subnet import SubnetProvider
from provisioner.graph.kinds.subnet import SubnetNode
from provisioner.spec.kinds.subnet import SUBNET
from stacks.context import ProgramContext
from stacks.kind import StackKind
from stacks.network import DeclaredNetwork


def declare(node: SubnetNode, ctx: ProgramContext) -> AwsResource:
    network: DeclaredNetwork = ctx.parts[str(node.network)]
    table = network.public_route_table if node.public else None
    return ctx.declare(
        node,
        SubnetProvider(),
        {
            "vpc_id": network.vpc.output("vpc_id"),
            "cidr_block": node.cidr,
            "availability_zone": node.availability_zone,
            "public": node.public,
            "route_table_id": table.output("route_table_id") if table is not None else None,
        },
    )


# The zone is the spec's (or the region's first), known before the subnet exists.
SUBNET_STACK = StackKind(
    SUBNET, declare, from_node={"availability_zone": lambda node: node.availability_zone}
)
