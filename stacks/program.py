"""The inline Pulumi program for one compiled environment.

Cloud nodes are declared in topological order, so every resource a node needs
already exists as a Pulumi resource when the node is declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from provisioner.cloud.aws.kind import cloud_kind
from provisioner.cloud.stack_exports import StackExports
from provisioner.engine.ports import OnReady, ReadyResource, UpstreamPlans
from provisioner.graph import CompiledEnvironment
from provisioner.graph.kinds.vm import VmNode
from provisioner.spec.addresses import Address
from provisioner.spec.kinds import spec_kind
from provisioner.spec.kinds.vm import VM
from provisioner.spec.references import (
    EnvironmentReference,
    Reference,
    find_expressions,
    parse_any,
    substitute,
)
from stacks.context import ProgramContext
from stacks.kind import stack_kinds


def build_program(
    compiled: CompiledEnvironment,
    on_ready: OnReady | None = None,
    upstreams: UpstreamPlans | None = None,
) -> Callable[[], None]:
    """The program that declares every cloud node of `compiled` and exports its outputs.

    During an apply, `on_ready` hears of each cloud node as soon as its
    resource's outputs resolve, in this process, while the rest still runs. During
    a preview, what it reads of an environment `upstreams` has not applied yet is
    `known after apply of NAME`.
    """

    def program() -> None:
        env = compiled.environment
        ctx = ProgramContext(
            env.name,
            env.region,
            compiled.graph,
            env.timeouts,
            pending=dict(upstreams or {}),
            used=dict(env.used),
        )
        declared_by = stack_kinds()
        for wave in compiled.graph.waves():
            for address in wave:
                # Software nodes are configured on the hosts, not by Pulumi.
                if address.kind in declared_by:
                    declared_by[address.kind].declare(compiled.graph.node(address), ctx)
        attributes = {str(address): _attributes(address, ctx) for address in ctx.resources}
        if on_ready is not None and not pulumi.runtime.is_dry_run():
            for address in ctx.resources:
                _report_when_ready(address, attributes[str(address)], ctx, on_ready)
        exports = StackExports(
            resources=attributes,
            vms=_vm_outputs(ctx),
            outputs=resolved(dict(env.outputs), ctx),
            private_keys={
                str(address): secret
                for address in ctx.resources
                if (secret := _secret_of(address, ctx)) is not None
            },
            secrets={
                str(address): secrets
                for address in ctx.resources
                if (secrets := _secret_attributes(address, ctx))
            },
            uses=tuple(env.uses),
        )
        for name, value in exports.encode(secret=pulumi.Output.secret).items():
            pulumi.export(name, value)

    return program


def _attributes(address: Address, ctx: ProgramContext) -> dict[str, Any]:
    """The node's readable attributes (those `${...}` may reference), as outputs; secret
    ones apart (`_secret_attributes`)."""
    spec = spec_kind(address.kind)
    return {
        attribute: _attribute(Reference(address, attribute), ctx)
        for attribute in sorted(spec.attributes - spec.secrets)
    }


def _secret_attributes(address: Address, ctx: ProgramContext) -> dict[str, Any]:
    """The node's secret readable attributes (a database's password), as outputs."""
    return {
        attribute: _attribute(Reference(address, attribute), ctx)
        for attribute in sorted(spec_kind(address.kind).secrets)
    }


def _report_when_ready(
    address: Address, attributes: dict[str, Any], ctx: ProgramContext, on_ready: OnReady
) -> None:
    secret = _secret_of(address, ctx)
    secrets = pulumi.Output.from_input(_secret_attributes(address, ctx))

    def report(values: list[Any]) -> None:
        on_ready(ReadyResource(address, values[0], private_key=values[1], secrets=values[2]))

    pulumi.Output.all(pulumi.Output.from_input(attributes), secret, secrets).apply(report)


def _vm_outputs(ctx: ProgramContext) -> dict[str, Any]:
    outputs = {}
    for node in ctx.graph.of_kind(VM):
        assert isinstance(node, VmNode)
        vm = ctx.resources[node.address]
        outputs[str(node.address)] = {
            "id": vm.output("instance_id"),
            "private_ip": vm.output("private_ip"),
            "public_ip": vm.output("public_ip"),
            "subnet": str(node.subnet),
            "roles": list(node.roles),
            "hostname": node.hostname,
            "key_pair": str(node.key_pair) if node.key_pair else None,
        }
    return outputs


def resolved(value: Any, ctx: ProgramContext) -> pulumi.Output[Any]:
    """`value` (text, or nested mappings and lists of it) with each `${...}` replaced by
    what it reads, once the resources it reads are known."""
    references = {
        str(reference): reference
        for _path, expression in find_expressions(value, ())
        for reference in [parse_any(expression)]
    }
    values = {
        text: _upstream_value(reference, ctx)
        if isinstance(reference, EnvironmentReference)
        else _attribute(reference, ctx)
        for text, reference in references.items()
    }

    def render(known: dict[str, Any]) -> Any:
        return substitute(value, lambda reference: known[str(reference)])

    return pulumi.Output.all(**values).apply(render) if values else pulumi.Output.from_input(value)


def _attribute(reference: Reference, ctx: ProgramContext) -> Any:
    """What `${...}` reads: a value the spec gives (from the node), or an output of the cloud."""
    target, attribute = reference.target, reference.attribute
    declared = stack_kinds()[target.kind]
    if attribute in declared.from_node:
        value = declared.attribute_of_node(ctx.graph.node(target), attribute)
    else:
        output = ctx.resources[target].output(cloud_kind(target.kind).attributes[attribute])
        value = output.apply(_whole)
    return value if reference.key is None else value[reference.key]


def _upstream_value(reference: EnvironmentReference, ctx: ProgramContext) -> Any:
    """What `${env.NAME....}` reads. In a preview of an environment whose upstream is not
    applied yet, a value its spec gives (a subnet's zone, a zone's domain, a literal
    output) is known already, and used as such; the rest is known after its apply."""
    if ctx.not_applied_yet(reference):
        given = _given_by_spec(reference, ctx)
        if given is not _NOT_GIVEN:
            return given
    return ctx.upstream_value(reference)


_NOT_GIVEN = object()


def _given_by_spec(reference: EnvironmentReference, ctx: ProgramContext) -> Any:
    """The value the upstream's spec gives for `reference`, or _NOT_GIVEN."""
    upstream = ctx.used.get(reference.environment)
    if upstream is None:
        return _NOT_GIVEN
    if reference.output is not None:
        given = upstream.outputs.get(reference.output)
        literal = given is not None and not list(find_expressions(given, ()))
        return given if literal else _NOT_GIVEN
    assert reference.resource is not None
    target, attribute = reference.resource.target, reference.resource.attribute
    declared = stack_kinds().get(target.kind)
    graph = ctx.upstream_graph(reference.environment)
    if declared is None or attribute not in declared.from_node or target not in graph:
        return _NOT_GIVEN
    value = declared.attribute_of_node(graph.node(target), attribute)
    return value if reference.resource.key is None else value[reference.resource.key]


def _whole(value: Any) -> Any:
    """A number as the cloud gave it: Pulumi carries every number as a float (a port)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _secret_of(address: Address, ctx: ProgramContext) -> Any:
    """The secret output a ready resource hands over (a key pair's private key), if any."""
    name = stack_kinds()[address.kind].secret_output
    return ctx.resources[address].output(name) if name is not None else None
