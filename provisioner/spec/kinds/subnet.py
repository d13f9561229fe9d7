"""subnets: subnets of a network; public ones get an internet route."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pydantic import Field

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kind import CheckContext, Link, SpecKind
from provisioner.spec.kinds.network import NETWORK, NETWORKS
from provisioner.spec.model import Cidr, Environment, SpecModel

SUBNET = ResourceKind.declare("subnet", depends_on=(NETWORK,))


class SubnetSpec(SpecModel):
    """A subnet of a network; public subnets get an internet route."""

    network: str
    cidr: Cidr
    availability_zone: str | None = None
    public: bool = False
    tags: dict[str, str] = Field(default_factory=dict)


def availability_zone(env: Environment, subnet: SubnetSpec) -> str:
    """The subnet's zone, defaulting to the region's first zone."""
    return subnet.availability_zone or f"{env.region}a"


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    subnets = SUBNETS.items(env)
    networks = NETWORKS.items(env)
    by_network: dict[str, list[str]] = {}
    for name, subnet in subnets.items():
        path = ("subnets", name)
        zone = availability_zone(env, subnet)
        if env.region and not re.fullmatch(re.escape(env.region) + r"[a-z]", zone):
            yield ctx.problem(
                (*path, "availability_zone"),
                f"availability zone '{zone}' is not in region '{env.region}'",
            )
        network = networks.get(subnet.network)
        if network is None:
            continue
        if not subnet.cidr.subnet_of(network.cidr):
            yield ctx.problem(
                (*path, "cidr"),
                f"{subnet.cidr} is outside network '{subnet.network}' ({network.cidr})",
            )
        by_network.setdefault(subnet.network, []).append(name)
    for names in by_network.values():
        yield from _overlaps(subnets, ctx, names)


def _overlaps(
    subnets: Mapping[str, SubnetSpec], ctx: CheckContext, names: list[str]
) -> Iterator[Diagnostic]:
    """Sweep the subnets by start address: one overlaps the widest reaching one before it."""
    ordered = sorted(
        names, key=lambda n: (subnets[n].cidr.network_address, subnets[n].cidr.prefixlen, n)
    )
    reach: str | None = None
    for name in ordered:
        cidr = subnets[name].cidr
        if reach is not None:
            wide = subnets[reach].cidr
            if cidr.network_address <= wide.broadcast_address:
                yield ctx.problem(
                    ("subnets", name, "cidr"), f"{cidr} overlaps subnet '{reach}' ({wide})"
                )
                if cidr.broadcast_address <= wide.broadcast_address:
                    continue
        reach = name


SUBNETS = SpecKind(
    SUBNET,
    "subnets",
    SubnetSpec,
    attributes=frozenset({"id", "cidr", "availability_zone"}),
    identity="id",
    links=(Link("network", "networks", "network"),),
    check=_check,
)
