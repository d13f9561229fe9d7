"""Realizes each VPC's DNS resolver, like AWS's Amazon-provided DNS at the VPC base + 2.

A VPC in use gets a dnsmasq (see dnsmasq.py) in its namespace, at its base
address + 2 on the namespace's loopback (hosts reach it through their
gateway). It answers the records of the Route53 private zones associated with
the VPC (A records; CNAME and alias records resolved to their target's
addresses), the DNS names of the load balancers and the endpoints of the
databases that have interfaces in the VPC (their managed interfaces' addresses,
see interfaces.py). An unknown name in a private zone is NXDOMAIN; any other
name is refused: nothing is forwarded outside the VPC.

The realizer runs last in a pass: it serves the VPCs the other realizers use.
"""

from __future__ import annotations

import logging
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from provisioner.local import netns
from provisioner.local.dnsmasq import Dnsmasq, render_hosts
from provisioner.local.interfaces import ec2_backends, managed_interfaces
from provisioner.local.vpcnet import VpcNetworks, resolver_address

log = logging.getLogger(__name__)

MAX_CHAIN = 8  # CNAME and alias hops followed before a name is given up


class RecordKind(StrEnum):
    """How a record gives its addresses: directly, or by naming another name."""

    ADDRESS = "address"  # A (and AAAA) records, load balancers' and databases' names
    CNAME = "cname"
    ALIAS = "alias"


@dataclass(frozen=True)
class DnsRecord:
    """One name and its values: addresses, or the one name it points to."""

    name: str
    kind: RecordKind
    values: tuple[str, ...]


@dataclass(frozen=True)
class VpcDns:
    """What one VPC's resolver serves."""

    vpc_id: str
    vpc_cidr: str
    zones: tuple[str, ...]  # private zones associated with the VPC: authoritative
    records: tuple[DnsRecord, ...]


def normalized(name: str) -> str:
    """A DNS name as the resolver's files spell it: lower case, no trailing dot."""
    return name.strip().rstrip(".").lower()


def resolve(records: Iterable[DnsRecord]) -> dict[str, tuple[str, ...]]:
    """Each name's addresses, CNAMEs and aliases followed; names without any are left out."""
    direct: dict[str, set[str]] = defaultdict(set)
    pointers: dict[str, set[str]] = defaultdict(set)
    for record in records:
        name = normalized(record.name)
        if record.kind is RecordKind.ADDRESS:
            direct[name].update(record.values)
        else:
            pointers[name].update(normalized(value) for value in record.values)

    def addresses(name: str, hops: int) -> set[str]:
        found = set(direct.get(name, ()))
        if hops < MAX_CHAIN:
            for target in pointers.get(name, ()):
                found |= addresses(target, hops + 1)
                if target.startswith("dualstack."):  # ELB alias targets carry this prefix
                    found |= addresses(target.removeprefix("dualstack."), hops + 1)
        return found

    resolved = {name: addresses(name, 0) for name in {*direct, *pointers}}
    return {name: tuple(sorted(found)) for name, found in resolved.items() if found}


class VpcResolvers:
    """Realizer: one dnsmasq per VPC in use, serving that VPC's names."""

    name = "resolver"

    def __init__(
        self,
        root: Path,
        networks: VpcNetworks,
        desired: Callable[[], Sequence[VpcDns]],
        vpcs_used: Callable[[], set[str]],
    ) -> None:
        self.root = root
        self.networks = networks
        self.desired = desired
        self.vpcs_used = vpcs_used  # the VPCs the other realizers have something in
        self._serving: set[str] = set()

    def step(self) -> None:
        used = self.vpcs_used()
        wanted = {dns.vpc_id: dns for dns in self.desired() if dns.vpc_id in used}
        existing = netns.namespaces()
        serving = set()
        for vpc_id, dns in wanted.items():
            namespace = self.networks.vpc_namespace(vpc_id)
            if namespace not in existing:
                continue
            try:
                address = resolver_address(dns.vpc_cidr)
                dnsmasq = Dnsmasq(self.root / vpc_id)
                if dnsmasq.process() is None:  # (again) in a new namespace: give it the address
                    netns.add_local_address(namespace, address)
                dnsmasq.serve(namespace, address, render_hosts(resolve(dns.records)), dns.zones)
            except Exception:
                log.exception("could not serve the resolver of %s", vpc_id)
            serving.add(vpc_id)
        for vpc_id in self._folders() - serving:
            self._remove(vpc_id)
        self._serving = serving

    def vpcs_in_use(self) -> set[str]:
        return set(self._serving)  # only VPCs that others use: it keeps none alive by itself

    def teardown(self) -> None:
        for vpc_id in self._folders():
            self._remove(vpc_id)
        self._serving = set()

    def _folders(self) -> set[str]:
        return {path.name for path in self.root.iterdir()} if self.root.is_dir() else set()

    def _remove(self, vpc_id: str) -> None:
        Dnsmasq(self.root / vpc_id).stop()
        shutil.rmtree(self.root / vpc_id, ignore_errors=True)


def moto_vpc_dns() -> list[VpcDns]:
    """What each VPC's resolver serves, from moto's EC2, Route53, ELBv2 and RDS state.

    Call with moto's lock held.
    """
    owner_names = dict(_managed_names())
    zones = list(_private_zones())
    found = []
    for ec2 in ec2_backends():
        owned: dict[tuple[str, str], set[str]] = defaultdict(set)
        for interface in managed_interfaces(ec2):
            if interface.address:
                owned[(interface.vpc_id, interface.owner)].add(interface.address)
        for vpc in list(ec2.vpcs.values()):
            records = [
                DnsRecord(owner_names[owner], RecordKind.ADDRESS, tuple(sorted(addresses)))
                for (vpc_id, owner), addresses in owned.items()
                if vpc_id == vpc.id and owner in owner_names
            ]
            served = [(name, recs) for name, vpcs, recs in zones if vpc.id in vpcs]
            records += [record for _name, zone_records in served for record in zone_records]
            found.append(
                VpcDns(
                    vpc_id=vpc.id,
                    vpc_cidr=vpc.cidr_block,
                    zones=tuple(sorted({name for name, _records in served})),
                    records=tuple(records),
                )
            )
    return found


def _managed_names() -> Iterator[tuple[str, str]]:
    """(ARN, DNS name) of every load balancer and database instance."""
    from moto.elbv2.models import elbv2_backends
    from moto.rds.models import rds_backends

    for _account, regions in list(elbv2_backends.items()):
        for backend in list(regions.values()):
            for balancer in list(backend.load_balancers.values()):
                yield balancer.arn, normalized(balancer.dns_name)
    for _account, rds_regions in list(rds_backends.items()):
        for rds in list(rds_regions.values()):
            for database in list(rds.databases.values()):
                yield database.db_instance_arn, normalized(database.address)


def _private_zones() -> Iterator[tuple[str, set[str], list[DnsRecord]]]:
    """(name, associated VPC ids, records) of every private hosted zone."""
    from moto.route53.models import route53_backends

    for _account, partitions in list(route53_backends.items()):
        for backend in list(partitions.values()):
            for zone in list(backend.zones.values()):
                if not zone.private_zone:
                    continue
                vpcs = {str(vpc.get("vpc_id")) for vpc in zone.vpcs}
                records = [r for rrset in list(zone.rrsets) if (r := _record(rrset)) is not None]
                yield normalized(zone.name), vpcs, records


def _record(rrset: Any) -> DnsRecord | None:
    name = normalized(rrset.name)
    if "*" in name or "\\" in name:
        return None  # wildcards cannot be written in a hosts file
    if rrset.alias_target:
        return DnsRecord(name, RecordKind.ALIAS, (str(rrset.alias_target.get("DNSName", "")),))
    values = tuple(
        str(value.get("Value") if isinstance(value, dict) else value)
        for value in rrset.records or ()
    )
    if rrset.type in ("A", "AAAA"):
        return DnsRecord(name, RecordKind.ADDRESS, values)
    if rrset.type == "CNAME":
        return DnsRecord(name, RecordKind.CNAME, values[:1])
    return None
