"""What a stack program knows of a resource kind: how to declare its Pulumi resources.

Each kind's module in `stacks/` declares one `StackKind`: the function that
declares a node's resources (recording them in the program's context), the
readable attributes the spec itself gives (read from the node, not the cloud),
and the output of its main resource that holds a secret to hand over when the
resource is ready (a key pair's private key).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.declarations import collect
from provisioner.graph.nodes import Node
from provisioner.spec.addresses import ResourceKind
from stacks.context import ProgramContext


@dataclass(frozen=True)
class StackKind:
    kind: ResourceKind
    declare: Callable[[Any, ProgramContext], object]
    from_node: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    secret_output: str | None = None

    def attribute_of_node(self, node: Node, attribute: str) -> Any:
        return self.from_node[attribute](node)


@functools.cache
def stack_kinds() -> dict[ResourceKind, StackKind]:
    """Every kind a stack program declares, found in the `stacks` package."""
    return collect("stacks", StackKind, lambda stack: stack.kind)
