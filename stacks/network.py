"""network.NAME: a VPC, and when a subnet of it is public, an internet gateway and route table."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.vpc import InternetGatewayProvider, RouteTableProvider, VpcProvider
from provisioner.graph.kinds.network import NetworkNode
from provisioner.graph.kinds.subnet import SubnetNode
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.kinds.subnet import SUBNET
from stacks.context import ProgramContext
from stacks.kind import StackKind

GATEWAY = "internet-gateway"
PUBLIC_ROUTES = "public-routes"


@dataclass(frozen=True)
class DeclaredNetwork:
    vpc: AwsResource
    public_route_table: AwsResource | None


def declare(node: NetworkNode, ctx: ProgramContext) -> DeclaredNetwork:
    """The VPC, plus the internet route for its public subnets if it has any."""
    vpc = ctx.declare(node, VpcProvider(), {"cidr_block": node.cidr})
    has_public = any(
        isinstance(sub, SubnetNode) and sub.public and sub.network == node.address
        for sub in ctx.graph.of_kind(SUBNET)
    )
    table = None
    vpc_id = vpc.output("vpc_id")
    if has_public:
        child = pulumi.ResourceOptions(depends_on=[vpc])
        gateway = ctx.declare(
            node, InternetGatewayProvider(), {"vpc_id": vpc_id}, part=GATEWAY, opts=child
        )
        table = ctx.declare(
            node,
            RouteTableProvider(),
            {"vpc_id": vpc_id, "gateway_id": gateway.output("gateway_id")},
            part=PUBLIC_ROUTES,
            opts=pulumi.ResourceOptions(depends_on=[vpc, gateway]),
        )
    declared = DeclaredNetwork(vpc, table)
    ctx.parts[str(node.address)] = declared
    return declared


NETWORK_STACK = StackKind(NETWORK, declare)
