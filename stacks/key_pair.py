"""key.NAME: an EC2 key pair; its private key stays a Pulumi secret."""

from __future__ import annotations

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.key_pair import KeyPairProvider
from provisioner.graph.kinds.key_pair import KeyPairNode
from provisioner.spec.kinds.key_pair import KEY_PAIR
from stacks.context import ProgramContext
from stacks.kind import StackKind


def declare(node: KeyPairNode, ctx: ProgramContext) -> AwsResource:
    return ctx.declare(
        node,
        KeyPairProvider(),
        {
            "key_name": f"{ctx.environment}-{node.address.name}",
            "key_type": node.key_type,
        },
    )


# The private key is handed to the hosts layer when the key pair is ready, never shown.
KEY_PAIR_STACK = StackKind(KEY_PAIR, declare, secret_output="private_key")  # noqa: S106
