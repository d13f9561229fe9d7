"""Orphans: project-tagged cloud resources that the state does not know, removed.

A run killed between a cloud create and Pulumi's checkpoint leaves a resource
that exists, carries the environment's tags, and is in no state. The sweep
finds every resource tagged `provision:env=ENV` whose id the state lacks and
deletes it, dependents first, with the providers' own deletes: lost answers and
ids the API does not know yet are handled as in a `down`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.cloud.aws.base import Described, Ec2Provider, describe_pages
from provisioner.cloud.aws.exactly_once import ENV_TAG
from provisioner.cloud.aws.instance import InstanceProvider
from provisioner.cloud.aws.key_pair import KeyPairProvider
from provisioner.cloud.aws.security_group import SecurityGroupProvider
from provisioner.cloud.aws.subnet import SubnetProvider, associations_by_subnet
from provisioner.cloud.aws.vpc import (
    InternetGatewayProvider,
    RouteTableProvider,
    VpcProvider,
    disassociate,
)

# Dependents first: instances use subnets, groups and key pairs; subnets use route
# tables; route tables use gateways; everything sits in a VPC.
_ORDER: tuple[type[Ec2Provider], ...] = (
    InstanceProvider,
    RouteTableProvider,
    InternetGatewayProvider,
    SubnetProvider,
    SecurityGroupProvider,
    KeyPairProvider,
    VpcProvider,
)


def sweep(ec2: Any, environment: str, known_ids: set[str]) -> list[str]:
    """Delete every resource of `environment` not in `known_ids`; returns what was deleted."""
    deleted: list[str] = []
    for provider in _ORDER:
        unknown = [
            described
            for described in provider.tagged(ec2, ENV_TAG, environment)
            if described[provider.listing.id_field] not in known_ids
        ]
        if not unknown:
            continue
        ids = [str(described[provider.listing.id_field]) for described in unknown]
        if provider is InstanceProvider:
            InstanceProvider.remove_all(ec2, ids, {})
        else:
            for described in unknown:
                _REMOVE.get(provider, _remove_plain)(ec2, provider, described)
        deleted += ids
    return deleted


def _remove_plain(ec2: Any, provider: type[Ec2Provider], described: Described) -> None:
    provider.remove(ec2, described[provider.listing.id_field], {})


def _remove_subnet(ec2: Any, provider: type[Ec2Provider], described: Described) -> None:
    """Its association may sit in a route table that the state does know."""
    subnet_id = described["SubnetId"]
    pages = describe_pages(ec2, "describe_route_tables", "association.subnet-id", [subnet_id])
    tables = [table for page in pages for table in page.get("RouteTables", [])]
    association = associations_by_subnet(tables).get(subnet_id)
    if association is not None:
        disassociate(ec2, association[1])
    SubnetProvider.remove(ec2, subnet_id, {})


def _remove_key_pair(ec2: Any, provider: type[Ec2Provider], described: Described) -> None:
    KeyPairProvider.remove(ec2, described["KeyPairId"], {"key_name": described["KeyName"]})


_REMOVE: dict[type[Ec2Provider], Callable[[Any, type[Ec2Provider], Described], None]] = {
    SubnetProvider: _remove_subnet,
    KeyPairProvider: _remove_key_pair,
}
