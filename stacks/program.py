"""The inline Pulumi program for one compiled environment.

Cloud nodes are declared in topological order, so every resource a node needs
already exists as a Pulumi resource when the node is declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from provisioner.cloud.stack_exports import StackExports
from provisioner.engine.ports import OnReady, ReadyResource
from provisioner.graph import CompiledEnvironment, Node
from provisioner.graph.nodes import (
    KeyPairNode,
    NetworkNode,
    SecurityGroupNode,
    SubnetNode,
    VmNode,
)
from provisioner.spec.addresses import Address, ResourceKind
from provisioner.spec.references import (
    ATTRIBUTES,
    Reference,
    find_expressions,
    parse_reference,
    substitute,
)
from stacks import instance, key_pair, network, security_group, subnet
from stacks.context import ProgramContext

# Output attribute of each kind's resource for a `${kind.name.attribute}` reference.
_ATTRIBUTES: dict[ResourceKind, dict[str, str]] = {
    ResourceKind.NETWORK: {"id": "vpc_id", "cidr": "cidr_block"},
    ResourceKind.SUBNET: {"id": "subnet_id", "cidr": "cidr_block"},
    ResourceKind.SECURITY_GROUP: {"id": "group_id"},
    ResourceKind.KEY_PAIR: {"name": "key_name", "public_key": "public_key"},
    ResourceKind.VM: {"id": "instance_id", "private_ip": "private_ip", "public_ip": "public_ip"},
}


def build_program(
    compiled: CompiledEnvironment, on_ready: OnReady | None = None
) -> Callable[[], None]:
    """The program that declares every cloud node of `compiled` and exports its outputs.

    During an apply, `on_ready` hears of each cloud node as soon as its
    resource's outputs resolve, in this process, while the rest still runs.
    """

    def program() -> None:
        env = compiled.environment
        ctx = ProgramContext(env.name, env.region, compiled.graph, env.timeouts)
        for wave in compiled.graph.waves():
            for address in wave:
                _declare(compiled.graph.node(address), ctx)
        attributes = {str(address): _attributes(address, ctx) for address in ctx.resources}
        if on_ready is not None and not pulumi.runtime.is_dry_run():
            for address in ctx.resources:
                _report_when_ready(address, attributes[str(address)], ctx, on_ready)
        exports = StackExports(
            resources=attributes,
            vms=_vm_outputs(ctx),
            outputs=_spec_outputs(env.outputs, ctx),
            private_keys={
                str(node.address): ctx.resources[node.address].private_key
                for node in compiled.graph.of_kind(ResourceKind.KEY_PAIR)
            },
        )
        for name, value in exports.encode(secret=pulumi.Output.secret).items():
            pulumi.export(name, value)

    return program


def _declare(node: Node, ctx: ProgramContext) -> None:
    if isinstance(node, NetworkNode):
        network.declare(node, ctx)
    elif isinstance(node, SubnetNode):
        subnet.declare(node, ctx)
    elif isinstance(node, SecurityGroupNode):
        security_group.declare(node, ctx)
    elif isinstance(node, KeyPairNode):
        key_pair.declare(node, ctx)
    elif isinstance(node, VmNode):
        instance.declare(node, ctx)
    # Software nodes are configured by the hosts backend (Ansible), not by Pulumi.


def _attributes(address: Address, ctx: ProgramContext) -> dict[str, Any]:
    """The node's readable attributes (those `${...}` may reference), as outputs."""
    return {
        attribute: _attribute(Reference(address, attribute), ctx)
        for attribute in sorted(ATTRIBUTES[address.kind])
    }


def _report_when_ready(
    address: Address, attributes: dict[str, Any], ctx: ProgramContext, on_ready: OnReady
) -> None:
    secret = ctx.resources[address].private_key if address.kind is ResourceKind.KEY_PAIR else None

    def report(values: list[Any]) -> None:
        on_ready(ReadyResource(address, values[0], private_key=values[1]))

    pulumi.Output.all(pulumi.Output.from_input(attributes), secret).apply(report)


def _vm_outputs(ctx: ProgramContext) -> dict[str, Any]:
    outputs = {}
    for node in ctx.graph.of_kind(ResourceKind.VM):
        assert isinstance(node, VmNode)
        vm = ctx.resources[node.address]
        outputs[str(node.address)] = {
            "id": vm.instance_id,
            "private_ip": vm.private_ip,
            "public_ip": vm.public_ip,
            "subnet": str(node.subnet),
            "roles": list(node.roles),
            "hostname": node.hostname,
            "key_pair": str(node.key_pair) if node.key_pair else None,
        }
    return outputs


def _spec_outputs(outputs: dict[str, str], ctx: ProgramContext) -> pulumi.Output[dict[str, Any]]:
    references = {
        expression: parse_reference(expression)
        for _path, expression in find_expressions(outputs, ())
    }
    values = {text: _attribute(reference, ctx) for text, reference in references.items()}

    def render(resolved: dict[str, Any]) -> dict[str, Any]:
        by_reference = {str(references[text]): value for text, value in resolved.items()}
        return {
            name: substitute(text, lambda ref: by_reference[str(ref)])
            for name, text in outputs.items()
        }

    return (
        pulumi.Output.all(**values).apply(render)
        if values
        else pulumi.Output.from_input(dict(outputs))
    )


def _attribute(reference: Reference, ctx: ProgramContext) -> Any:
    target = reference.target
    if target.kind is ResourceKind.VM and reference.attribute == "hostname":
        node = ctx.graph.node(target)
        assert isinstance(node, VmNode)
        return node.hostname
    if target.kind is ResourceKind.SUBNET and reference.attribute == "availability_zone":
        node = ctx.graph.node(target)
        assert isinstance(node, SubnetNode)
        return node.availability_zone
    return getattr(ctx.resources[target], _ATTRIBUTES[target.kind][reference.attribute])
