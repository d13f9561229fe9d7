"""lb.NAME: a load balancer, its target group, a listener per port, a registration per instance.

The target group (`lb.web/target-group`) is made beside the load balancer, each
listener (`lb.web/listener-80`) after both, and each registration
(`lb.web/target-web-0`) after the group and its instance, so scaling the VM
group adds or removes exactly the registrations of the instances that changed.
"""

from __future__ import annotations

import pulumi

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.listener import ListenerProvider, TargetProvider
from provisioner.cloud.aws.load_balancer import LoadBalancerProvider, TargetGroupProvider
from provisioner.graph.kinds.load_balancer import LoadBalancerNode
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.load_balancer import LB
from stacks.context import ProgramContext
from stacks.kind import StackKind

TARGET_GROUP_PART = "target-group"


def listener_part(port: int) -> str:
    return f"listener-{port}"


def target_part(vm: Address) -> str:
    """`target-web-0` for vm.web[0]."""
    return f"target-{vm.name}-{vm.index}"


def declare(node: LoadBalancerNode, ctx: ProgramContext) -> AwsResource:
    upstream = ctx.depends_on(node)
    subnets = [ctx.output_of(s, "subnet_id") for s in node.subnets]
    groups = [ctx.output_of(g, "group_id") for g in node.security_groups]
    balancer = ctx.declare(
        node,
        LoadBalancerProvider(),
        {
            "lb_name": node.lb_name,
            "internal": node.internal,
            "subnet_ids": pulumi.Output.all(*subnets).apply(sorted),
            "security_group_ids": pulumi.Output.all(*groups).apply(sorted),
        },
        opts=upstream,
    )
    group = node.target_group
    target_group = ctx.declare(
        node,
        TargetGroupProvider(),
        {
            "target_group_name": group.name,
            "port": group.port,
            "protocol": group.protocol,
            "vpc_id": ctx.output_of(node.network, "vpc_id"),
            "health_check": group.health_check.to_json(),
        },
        part=TARGET_GROUP_PART,
        opts=upstream,
    )
    both = pulumi.ResourceOptions(depends_on=[balancer, target_group])
    for listener in node.listeners:
        ctx.declare(
            node,
            ListenerProvider(),
            {
                "load_balancer_arn": balancer.output("load_balancer_arn"),
                "port": listener.port,
                "protocol": listener.protocol,
                "target_group_arn": target_group.output("target_group_arn"),
            },
            part=listener_part(listener.port),
            opts=both,
        )
    for vm in group.targets:
        instance = ctx.resources[vm]
        ctx.declare(
            node,
            TargetProvider(),
            {
                "target_group_arn": target_group.output("target_group_arn"),
                "instance_id": instance.output("instance_id"),
                "port": group.port,
            },
            part=target_part(vm),
            opts=pulumi.ResourceOptions(depends_on=[target_group, instance]),
        )
    return balancer


# Its DNS name and ARN are the cloud's.
LOAD_BALANCER_STACK = StackKind(LB, declare)
