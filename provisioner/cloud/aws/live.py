"""Recorded resources read back from the cloud in bulk, grouped by the provider that made them.

Pulumi's refresh calls one provider `read` per resource. Here each provider
type is read in bulk (`AwsProvider.read_many`: for EC2, one filtered describe per
chunk of ids), through the same mapping from described objects to outputs that
`read` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.cloud.aws.base import AwsProvider, Outputs
from provisioner.cloud.aws.kind import providers


def provider_of(resource_id: str, outputs: Mapping[str, Any]) -> type[AwsProvider] | None:
    """The provider that made a recorded resource: the one whose id output holds its id.

    Every dynamic resource has the same Pulumi type, and its provider is in state
    only as an encrypted pickle (`__provider`); but each of our providers records
    the resource's own id under an output of its own (`vpc_id`, `subnet_id`, ...).
    """
    for provider in providers():
        if resource_id and outputs.get(provider.id_output) == resource_id:
            return provider
    return None


@dataclass(frozen=True)
class Recorded:
    """One resource as state records it: enough to read it back."""

    key: str  # the caller's name for it (a URN)
    id: str
    provider: type[AwsProvider]
    region: str
    outputs: Mapping[str, Any]


def read_live(
    resources: Iterable[Recorded], client_for: Callable[[str, str], Any]
) -> dict[str, Outputs | None]:
    """Each resource's live outputs by key, None for one that is gone.

    One bulk read per provider type and region; `client_for(service, region)` gives
    the client.
    """
    groups: dict[tuple[type[AwsProvider], str], list[Recorded]] = {}
    for resource in resources:
        groups.setdefault((resource.provider, resource.region), []).append(resource)
    clients: dict[tuple[str, str], Any] = {}
    live: dict[str, Outputs | None] = {}
    for (provider, region), members in groups.items():
        key = (provider.service, region)
        if key not in clients:
            clients[key] = client_for(*key)
        found = provider.read_many(clients[key], {r.id: r.outputs for r in members})
        live.update({r.key: found.get(r.id) for r in members})
    return live
