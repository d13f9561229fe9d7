"""What a host's variables hold: each `${...}` resolved from the ready cloud resources,
each `${env.NAME....}` from what that environment exports, secrets as placeholders."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from provisioner.engine.ports import ReadyResource, UpstreamValues, secret_placeholder
from provisioner.graph import ResourceGraph
from provisioner.graph.kinds.software import SoftwareNode
from provisioner.graph.kinds.vm import VmNode
from provisioner.spec.addresses import Address
from provisioner.spec.kinds import spec_kind
from provisioner.spec.kinds.software import SOFTWARE
from provisioner.spec.references import (
    EnvironmentReference,
    Reference,
    find_expressions,
    is_environment_reference,
    parse_environment_reference,
    substitute,
)

# The environment variables that carry a secret's value into a playbook run.
SECRET_ENV_PREFIX = "PROVISION_SECRET_"  # noqa: S105 - a name prefix, not a secret


def resolve(
    values: Mapping[str, Any],
    ready: Mapping[Address, ReadyResource],
    secrets: dict[str, str],
    upstreams: Mapping[str, UpstreamValues] | None = None,
) -> dict[str, Any]:
    """`values` with each `${...}` replaced by the ready resource's attribute, and each
    `${env.NAME....}` by what that environment exports (`upstreams`).

    A secret attribute is replaced by a placeholder, and its value goes in `secrets`.
    """

    def hidden(reference: object, value: Any) -> str:
        digest = hashlib.sha256(str(reference).encode()).hexdigest()[:12].upper()
        name = f"{SECRET_ENV_PREFIX}{digest}"
        secrets[name] = str(value)
        return secret_placeholder(name)

    def lookup(reference: Reference | EnvironmentReference) -> Any:
        if isinstance(reference, EnvironmentReference):
            return _upstream(reference, (upstreams or {})[reference.environment], hidden)
        resource = ready[reference.target]
        if reference.attribute not in spec_kind(reference.target.kind).secrets:
            return reference.read(resource.attributes)
        return hidden(reference, reference.read(resource.secrets))

    resolved = substitute(dict(values), lookup)
    assert isinstance(resolved, dict)
    return resolved


def _upstream(
    reference: EnvironmentReference,
    values: UpstreamValues,
    hidden: Callable[[object, Any], str],
) -> Any:
    if reference.output is not None:
        return values.outputs[reference.output]
    assert reference.resource is not None
    target = reference.resource.target
    if reference.resource.attribute in spec_kind(target.kind).secrets:
        return hidden(reference, reference.resource.read(values.secrets[str(target)]))
    return reference.resource.read(values.resources[str(target)])


def environments_read(graph: ResourceGraph) -> list[str]:
    """The other environments whose values the hosts' variables read."""
    names: set[str] = set()
    for node in graph.of_kind(SOFTWARE):
        assert isinstance(node, SoftwareNode)
        vm = graph.node(node.host)
        assert isinstance(vm, VmNode)
        for _path, expression in find_expressions([node.vars, vm.vars], ()):
            if is_environment_reference(expression):
                names.add(parse_environment_reference(expression).environment)
    return sorted(names)
