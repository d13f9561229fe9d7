"""key.NAME: an EC2 key pair; its private key stays a Pulumi secret."""

from __future__ import annotations

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.key_pair import KeyPairProvider
from provisioner.graph.kinds.key_pair import KeyPairNode
from provisioner.spec.kinds.key_pair import KEY_PAIR
from stacks.context import ProgramContext, logical_name
from stacks.kind import StackKind


def declare(node: KeyPairNode, ctx: ProgramContext) -> AwsResource:
    pair = AwsResource(
        KeyPairProvider(),
        logical_name(node.address),
        {
            "key_name": f"{ctx.environment}-{node.address.name}",
            "key_type": node.key_type,
            "region": ctx.region,
            "tags": ctx.tags(node),
        },
        ctx.depends_on(node),
    )
    ctx.resources[node.address] = pair
    return pair


# The private key is handed to the hosts layer when the key pair is ready, never shown.
KEY_PAIR_STACK = StackKind(KEY_PAIR, declare, secret_output="private_key")  # noqa: S106
