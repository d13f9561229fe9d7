"""What the per-kind modules share while a program runs: declared resources by address."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from provisioner.cloud.aws.base import AwsProvider, AwsResource
from provisioner.graph import Node, ResourceGraph
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.model import TimeoutsSpec


@dataclass
class ProgramContext:
    """The environment being declared and the Pulumi resources declared so far."""

    environment: str
    region: str
    graph: ResourceGraph
    timeouts: TimeoutsSpec = field(default_factory=TimeoutsSpec)
    resources: dict[Address, AwsResource] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)
    upstreams: dict[str, Any] = field(default_factory=dict)  # a StackReference per used env

    def tags(self, node: Node, part: str | None = None) -> dict[str, str]:
        """Every resource carries these: what we manage, and where it sits in the graph."""
        address = logical_name(node.address, part)
        return {
            **node.tags,
            "provision:env": self.environment,
            "provision:address": address,
            "Name": f"{self.environment}-{address}",
        }

    def declare(
        self,
        node: Node,
        provider: AwsProvider,
        inputs: dict[str, Any],
        *,
        part: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> AwsResource:
        """One resource of `node` (its main one, or `part`), in the program's region.

        It carries the node's tags if its provider takes tags, and waits for the
        node's dependencies unless `opts` says otherwise. A node's main resource is
        what references to the node read.
        """
        given = {"region": self.region, **inputs}
        if "tags" in provider.inputs:
            given["tags"] = self.tags(node, part)
        resource = AwsResource(
            provider, logical_name(node.address, part), given, opts or self.depends_on(node)
        )
        if part is None:
            self.resources[node.address] = resource
        return resource

    def depends_on(self, node: Node) -> pulumi.ResourceOptions:
        """The graph's edges into `node`, as explicit Pulumi dependencies."""
        upstream = [
            self.resources[address]
            for address in self.graph.dependencies(node.address)
            if address in self.resources
        ]
        return pulumi.ResourceOptions(depends_on=upstream)


def logical_name(address: Address, part: str | None = None) -> str:
    """The Pulumi resource name: the graph address, plus a part for a node's extra resources."""
    return str(ResourceAddress(address, part))
