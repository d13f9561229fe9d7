"""The base of graph nodes: each kind's module (`graph/kinds/`) adds its own frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.spec.addresses import Address, ResourceKind


@dataclass(frozen=True, eq=False)
class Node:
    """A resource to create or configure."""

    address: Address
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> ResourceKind:
        return self.address.kind

    def attributes(self) -> dict[str, Any]:
        """The node's settings, for display and JSON (no secrets live in nodes)."""
        return {}
