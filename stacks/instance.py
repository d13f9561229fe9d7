"""vm.NAME[i]: an instance whose cloud-config carries the deploy key and the hostname."""

from __future__ import annotations

import pulumi
import yaml

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.instance import OP_TIMEOUT, InstanceProvider
from provisioner.graph.kinds.vm import VmNode
from provisioner.spec.kinds.vm import VM
from stacks.context import ProgramContext
from stacks.kind import StackKind


def cloud_config(hostname: str, public_key: str | None) -> str:
    """user_data as cloud-init reads it."""
    config: dict[str, object] = {"hostname": hostname, "preserve_hostname": False}
    if public_key:
        config["ssh_authorized_keys"] = [public_key]
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=True)


def declare(node: VmNode, ctx: ProgramContext) -> AwsResource:
    pair = ctx.resources.get(node.key_pair) if node.key_pair else None
    public_key: pulumi.Input[str | None] = pair.output("public_key") if pair else None
    groups = [ctx.output_of(g, "group_id") for g in node.security_groups]
    return ctx.declare(
        node,
        InstanceProvider(),
        {
            OP_TIMEOUT: ctx.timeouts.vm,
            "image_id": node.image,
            "instance_type": node.instance_type,
            "subnet_id": ctx.output_of(node.subnet, "subnet_id"),
            "security_group_ids": pulumi.Output.all(*groups).apply(sorted),
            "key_name": pair.output("key_name") if pair is not None else None,
            "user_data": pulumi.Output.from_input(public_key).apply(
                lambda key: cloud_config(node.hostname, str(key) if key else None)
            ),
        },
    )


VM_STACK = StackKind(VM, declare, from_node={"hostname": lambda node: node.hostname})
