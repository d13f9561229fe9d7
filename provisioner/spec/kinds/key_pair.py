"""key_pairs: SSH key pairs made by the cloud."""

from __future__ import annotations

from typing import Literal

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.kind import SpecKind
from provisioner.spec.model import SpecModel

KEY_PAIR = ResourceKind.declare("key")


class KeyPairSpec(SpecModel):
    """An SSH key pair created by the cloud; its private key is a secret, never readable."""

    type: Literal["ed25519", "rsa"] = "ed25519"


KEY_PAIRS = SpecKind(
    KEY_PAIR, "key_pairs", KeyPairSpec, attributes=frozenset({"name", "public_key"})
)
