"""vm.NAME[i]: an instance whose cloud-config carries the deploy key and the hostname."""

from __future__ import annotations

import pulumi
import yaml

from provisioner.cloud.aws.instance import Instance
from provisioner.graph.kinds.vm import VmNode
from provisioner.spec.kinds.vm import VM
from stacks.context import ProgramContext, logical_name
from stacks.kind import StackKind


def cloud_config(hostname: str, public_key: str | None) -> str:
    """user_data as cloud-init reads it."""
    config: dict[str, object] = {"hostname": hostname, "preserve_hostname": False}
    if public_key:
        config["ssh_authorized_keys"] = [public_key]
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=True)


def declare(node: VmNode, ctx: ProgramContext) -> Instance:
    pair = ctx.resources.get(node.key_pair) if node.key_pair else None
    public_key = pair.public_key if pair is not None else None
    instance = Instance(
        logical_name(node.address),
        image_id=node.image,
        instance_type=node.instance_type,
        subnet_id=ctx.resources[node.subnet].subnet_id,
        security_group_ids=pulumi.Output.all(
            *[ctx.resources[g].group_id for g in node.security_groups]
        ).apply(sorted),
        key_name=pair.key_name if pair is not None else None,
        user_data=pulumi.Output.from_input(public_key).apply(
            lambda key: cloud_config(node.hostname, key)
        ),
        region=ctx.region,
        tags=ctx.tags(node),
        op_timeout=ctx.timeouts.vm,
        opts=ctx.depends_on(node),
    )
    ctx.resources[node.address] = instance
    return instance


VM_STACK = StackKind(VM, declare, from_node={"hostname": lambda node: node.hostname})
