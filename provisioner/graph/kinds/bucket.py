"""bucket.NAME: an S3 bucket; its real (global) name is known before apply, so plans show it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from provisioner.graph.kind import GraphKind, addressed, tags
from provisioner.graph.nodes import Node
from provisioner.spec.kinds.bucket import BUCKETS, real_name
from provisioner.spec.model import Environment


@dataclass(frozen=True, eq=False)
class BucketNode(Node):
    bucket_name: str = ""
    versioning: bool = False
    public_access: bool = False
    force_destroy: bool = False

    def attributes(self) -> dict[str, Any]:
        return {
            "name": self.bucket_name,
            "versioning": self.versioning,
            "public_access": self.public_access,
            "force_destroy": self.force_destroy,
        }


def _build(env: Environment) -> Iterator[BucketNode]:
    for address, spec in addressed(BUCKETS, env):
        yield BucketNode(
            address,
            tags(env, spec.tags),
            real_name(env.name, address.name, spec),
            spec.versioning,
            spec.public_access,
            spec.force_destroy,
        )


BUCKET_GRAPH = GraphKind(BUCKETS, _build, colour="#9c755f")
