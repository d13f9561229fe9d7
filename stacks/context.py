"""What the per-kind modules share while a program runs: declared resources by address."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from provisioner.cloud.aws.base import AwsProvider, AwsResource
from provisioner.cloud.pulumi_cloud import PROJECT
from provisioner.cloud.stack_exports import RESOURCES, SPEC_OUTPUTS
from provisioner.engine.ports import UpstreamPlan
from provisioner.graph import Node, ResourceGraph
from provisioner.graph.compiler import build_graph
from provisioner.graph.kind import Target
from provisioner.plan.model import known_after_apply_of
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.model import Environment, TimeoutsSpec
from provisioner.spec.references import EnvironmentReference


@dataclass
class ProgramContext:
    """The environment being declared and the Pulumi resources declared so far."""

    environment: str
    region: str
    graph: ResourceGraph
    timeouts: TimeoutsSpec = field(default_factory=TimeoutsSpec)
    resources: dict[Address, AwsResource] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)
    upstreams: dict[str, pulumi.StackReference] = field(default_factory=dict)  # per used env
    pending: dict[str, UpstreamPlan] = field(default_factory=dict)  # used envs not applied yet
    used: dict[str, Environment] = field(default_factory=dict)  # their specs
    _upstream_graphs: dict[str, ResourceGraph] = field(default_factory=dict, repr=False)

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

    def output_of(self, target: Target, output: str) -> pulumi.Output[Any]:
        """What a link names, as an output: `output` of a resource of this program, or the
        identifying attribute of another environment's resource (read from its stack)."""
        if isinstance(target, Address):
            return self.resources[target].output(output)
        return self.upstream_value(target)

    def not_applied_yet(self, reference: EnvironmentReference) -> bool:
        """True in a preview when what `reference` reads is known only after its
        environment's apply (never applied, or created or replaced by its plan)."""
        pending = self.pending.get(reference.environment)
        return pending is not None and pending.unknown(reference) and pulumi.runtime.is_dry_run()

    def upstream_graph(self, name: str) -> ResourceGraph:
        """A used environment's graph, from its spec (built once per program)."""
        if name not in self._upstream_graphs:
            self._upstream_graphs[name] = build_graph(self.used[name])
        return self._upstream_graphs[name]

    def upstream_value(self, reference: EnvironmentReference) -> pulumi.Output[Any]:
        """What `${env.NAME....}` reads, from that environment's stack (a stack reference to
        the same state backend): one of its spec's outputs, or a resource's attribute; in a
        preview, `known after apply of NAME` if it is not applied yet."""
        name = reference.environment
        if self.not_applied_yet(reference):
            return pulumi.Output.from_input(known_after_apply_of(name))
        if name not in self.upstreams:
            self.upstreams[name] = pulumi.StackReference(
                f"upstream-{name}", stack_name=f"organization/{PROJECT}/{name}"
            )
        stack: pulumi.StackReference = self.upstreams[name]
        if reference.output is not None:
            output = reference.output
            return stack.get_output(SPEC_OUTPUTS).apply(lambda outputs: (outputs or {})[output])
        assert reference.resource is not None
        target, attribute = str(reference.resource.target), reference.resource.attribute
        key = reference.resource.key
        read = stack.get_output(RESOURCES).apply(lambda found: (found or {})[target][attribute])
        return read if key is None else read.apply(lambda value: value[key])

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
