"""Recorded resources read back from the cloud in bulk, grouped by the provider that made them.

Pulumi's refresh calls one provider `read` per resource. Here each provider
type is read with one filtered describe per chunk of ids (`Ec2Provider.read_many`),
through the same mapping from described objects to outputs that `read` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.cloud.aws.base import Ec2Provider, Outputs
from provisioner.cloud.aws.instance import InstanceProvider
from provisioner.cloud.aws.key_pair import KeyPairProvider
from provisioner.cloud.aws.security_group import SecurityGroupProvider
from provisioner.cloud.aws.subnet import SubnetProvider
from provisioner.cloud.aws.vpc import InternetGatewayProvider, RouteTableProvider, VpcProvider

PROVIDERS: tuple[type[Ec2Provider], ...] = (
    VpcProvider,
    InternetGatewayProvider,
    RouteTableProvider,
    SubnetProvider,
    SecurityGroupProvider,
    KeyPairProvider,
    InstanceProvider,
)


def provider_of(resource_id: str, outputs: Mapping[str, Any]) -> type[Ec2Provider] | None:
    """The provider that made a recorded resource: the one whose id output holds its id.

    Every dynamic resource has the same Pulumi type, and its provider is in state
    only as an encrypted pickle (`__provider`); but each of our providers records
    the resource's own id under an output of its own (`vpc_id`, `subnet_id`, ...).
    """
    for provider in PROVIDERS:
        if resource_id and outputs.get(provider.id_output) == resource_id:
            return provider
    return None


@dataclass(frozen=True)
class Recorded:
    """One resource as state records it: enough to read it back."""

    key: str  # the caller's name for it (a URN)
    id: str
    provider: type[Ec2Provider]
    region: str
    outputs: Mapping[str, Any]


def read_live(
    resources: Iterable[Recorded], ec2_for: Callable[[str], Any]
) -> dict[str, Outputs | None]:
    """Each resource's live outputs by key, None for one that is gone.

    One bulk read per provider type and region; `ec2_for(region)` gives the client.
    """
    groups: dict[tuple[type[Ec2Provider], str], list[Recorded]] = {}
    for resource in resources:
        groups.setdefault((resource.provider, resource.region), []).append(resource)
    clients: dict[str, Any] = {}
    live: dict[str, Outputs | None] = {}
    for (provider, region), members in groups.items():
        if region not in clients:
            clients[region] = ec2_for(region)
        found = provider.read_many(clients[region], {r.id: r.outputs for r in members})
        live.update({r.key: found.get(r.id) for r in members})
    return live
