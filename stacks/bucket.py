"""bucket.NAME: an S3 bucket under its real (global) name, which the graph node holds."""

from __future__ import annotations

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.bucket import BucketProvider
from provisioner.graph.kinds.bucket import BucketNode
from provisioner.spec.kinds.bucket import BUCKET
from stacks.context import ProgramContext
from stacks.kind import StackKind


def declare(node: BucketNode, ctx: ProgramContext) -> AwsResource:
    return ctx.declare(
        node,
        BucketProvider(),
        {
            "bucket_name": node.bucket_name,
            "versioning": node.versioning,
            "public_access": node.public_access,
            "force_destroy": node.force_destroy,
        },
    )


# The name is known before apply (plans show it); the ARN comes from the cloud.
BUCKET_STACK = StackKind(BUCKET, declare, from_node={"name": lambda node: node.bucket_name})
