"""sg.NAME: a security group whose rules name CIDRs or other groups (by their ids)."""

from __future__ import annotations

from typing import Any

import pulumi

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.security_group import SELF_GROUP, SecurityGroupProvider
from provisioner.graph.kinds.security_group import Rule, SecurityGroupNode
from provisioner.spec.kinds.security_group import SECURITY_GROUP
from stacks.context import ProgramContext
from stacks.kind import StackKind


def declare(node: SecurityGroupNode, ctx: ProgramContext) -> AwsResource:
    return ctx.declare(
        node,
        SecurityGroupProvider(),
        {
            "vpc_id": ctx.output_of(node.network, "vpc_id"),
            "name": f"{ctx.environment}-{node.address.name}",
            "description": node.description or f"{ctx.environment} {node.address.name}",
            "ingress": _rules(node, node.ingress, ctx),
            "egress": _rules(node, node.egress, ctx),
        },
    )


def _rules(
    node: SecurityGroupNode, rules: tuple[Rule, ...], ctx: ProgramContext
) -> pulumi.Output[list[dict[str, Any]]]:
    return pulumi.Output.all(*[_rule(node, rule, ctx) for rule in rules])


def _rule(node: SecurityGroupNode, rule: Rule, ctx: ProgramContext) -> pulumi.Output[Any]:
    if rule.group is None:
        peer: pulumi.Input[str] | None = None
    elif rule.group == node.address:
        peer = SELF_GROUP
    else:
        peer = ctx.resources[rule.group].output("group_id")
    return pulumi.Output.from_input(peer).apply(
        lambda group_id: {
            "protocol": rule.protocol,
            "from_port": rule.from_port,
            "to_port": rule.to_port,
            "cidr": rule.cidr,
            "group_id": group_id,
            "description": rule.description,
        }
    )


SECURITY_GROUP_STACK = StackKind(SECURITY_GROUP, declare)
