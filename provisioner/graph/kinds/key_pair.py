"""key.NAME: an SSH key pair made by the cloud."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from provisioner.graph.kind import GraphKind, addressed
from provisioner.graph.nodes import Node
from provisioner.spec.kinds.key_pair import KEY_PAIRS
from provisioner.spec.model import Environment


@dataclass(frozen=True, eq=False)
class KeyPairNode(Node):
    key_type: str = "ed25519"

    def attributes(self) -> dict[str, Any]:
        return {"type": self.key_type}


def _build(env: Environment) -> Iterator[KeyPairNode]:
    for address, spec in addressed(KEY_PAIRS, env):
        yield KeyPairNode(address, dict(env.tags), spec.type)


KEY_PAIR_GRAPH = GraphKind(KEY_PAIRS, _build, colour="#edc948")
