"""dns_zones: private hosted zones attached to a network, with A and CNAME records.

A record is written by hand (its value may be a `${...}` reference: a CNAME holding
`${lb.web.dns_name}` gives a load balancer a name in the zone), or generated
for every instance of a VM group (`for_each_vm: [web]` gives `web-0`, `web-1`, ...
holding each VM's private IP), so scaling the group adds and removes records.
A record's fully qualified name is readable as `${dns.ZONE.fqdn[RECORD]}`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kind import CheckContext, Link, Share, SpecKind, duplicates
from provisioner.spec.kinds.database import DATABASE
from provisioner.spec.kinds.load_balancer import LB
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.kinds.vm import VM, VMS
from provisioner.spec.model import Environment, SpecModel

# A record may read a VM (its address), a load balancer or a database (a name to alias),
# or another zone.
DNS = ResourceKind.declare("dns", depends_on=(NETWORK, VM, LB, DATABASE), on_itself=True)

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_LONGEST_NAME = 253
RecordType = Literal["A", "CNAME"]


def is_label(text: str) -> bool:
    """True for one DNS label: lowercase letters, digits and '-' (not at the ends), 1-63 long."""
    return _LABEL.fullmatch(text) is not None


def _dns_name(value: str) -> str:
    """A name such as `dev.internal` (a trailing dot is dropped)."""
    name = value.removesuffix(".")
    if not name or len(name) > _LONGEST_NAME or not all(map(is_label, name.split("."))):
        raise ValueError(
            f"'{value}' is not a DNS name such as dev.internal "
            "(labels of lowercase letters, digits and '-', at most 63 each)"
        )
    return name


DnsName = Annotated[str, AfterValidator(_dns_name)]


def record_name(group: str, index: int) -> str:
    """The record generated for vm.GROUP[INDEX]: `GROUP-INDEX`."""
    return f"{group}-{index}"


class RecordSpec(SpecModel):
    """One record: an IPv4 address (A) or another name (CNAME), or a `${...}` that gives it."""

    type: RecordType
    value: str

    @field_validator("value")
    @classmethod
    def _literal_value(cls, value: str, info: ValidationInfo) -> str:
        if "${" in value:
            return value  # known after apply; the reference is checked with the others
        if info.data.get("type") == "A":
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise ValueError(f"an A record holds an IPv4 address, not '{value}'") from None
            return value
        return _dns_name(value)


class DnsZoneSpec(SpecModel):
    """A private zone attached to a network, with its records; or, with `zone`, this
    environment's records in a zone of an environment it uses
    (`zone: ${env.network.dns.internal.zone_id}`), whose domain and network are that zone's."""

    domain: DnsName | None = None
    network: str | None = None
    zone: str | None = None
    records: dict[str, RecordSpec] = Field(default_factory=dict)
    for_each_vm: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _own_zone_or_another(self) -> DnsZoneSpec:
        if self.zone is not None and (self.domain is not None or self.network is not None):
            raise ValueError(
                "`zone` adds records to another environment's zone, whose domain and network "
                "are its own: leave out `domain` and `network`"
            )
        if self.zone is None and (self.domain is None or self.network is None):
            raise ValueError(
                "a zone needs `domain` and `network` (or `zone: ${env.NAME.dns.ZONE.zone_id}` "
                "to add records to another environment's zone)"
            )
        return self


def generated(zone: DnsZoneSpec, env: Environment) -> dict[str, tuple[str, int]]:
    """The records generated for the zone's VM groups: name -> (group, index)."""
    groups = VMS.items(env)
    return {
        record_name(group, index): (group, index)
        for group in dict.fromkeys(zone.for_each_vm)
        if group in groups
        for index in range(groups[group].count)
    }


def record_names(zone: DnsZoneSpec, env: Environment) -> list[str] | None:
    """Every record of the zone, written or generated; None while a VM group it names is
    not valid (its records are unknown, and that group is reported already)."""
    if not set(zone.for_each_vm) <= set(VMS.items(env)):
        return None
    return [*zone.records, *generated(zone, env)]


def domain_of(zone: DnsZoneSpec, zones: Mapping[str, DnsZoneSpec]) -> str | None:
    """The zone's domain: its own, or (`zone`) that of the zone it adds records to, among
    `zones` (those in reach, by name or reference); None while that one is unknown."""
    if zone.zone is None:
        return zone.domain
    other = zones.get(zone.zone)
    return other.domain if other is not None else None


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    in_reach = DNS_ZONES.in_reach(env, ctx)
    for name, zone in DNS_ZONES.items(env).items():
        path = ("dns_zones", name)
        domain = domain_of(zone, in_reach) or ""
        made = generated(zone, env)
        for record, spec in zone.records.items():
            at = (*path, "records", record)
            if not is_label(record):
                yield ctx.problem(
                    at,
                    f"invalid record name '{record}': one DNS label of lowercase letters, "
                    "digits and '-' (not at the ends), at most 63",
                )
            elif record in made:
                group, index = made[record]
                yield ctx.problem(
                    at,
                    f"record '{record}' is also generated for vm.{group}[{index}] "
                    f"by for_each_vm '{group}'",
                )
            yield from _readable_kinds(ctx, spec.value, (*at, "value"))
        for record in made:
            if len(f"{record}.{domain}") > _LONGEST_NAME or not is_label(record):
                yield ctx.problem(
                    (*path, "for_each_vm"), f"generated name '{record}.{domain}' is too long"
                )
        yield from duplicates(ctx, (*path, "for_each_vm"), zone.for_each_vm)


def _readable_kinds(ctx: CheckContext, value: str, path: tuple[str, ...]) -> Iterator[Diagnostic]:
    """A record waits for what it reads: only kinds a zone may depend on."""
    # The reference parser reads every kind's declaration, this module's included.
    from provisioner.spec.references import find_expressions, parse_reference

    for where, expression in find_expressions(value, path):
        try:
            target = parse_reference(expression).target
        except ValueError:
            continue  # reported by the reference checks
        if not DNS.may_depend_on(target.kind):
            yield ctx.problem(
                where,
                f"a record cannot read a {target.kind.value} "
                "(only VMs, networks, load balancers and other zones)",
            )


def _shares(section: str, zones: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Share]:
    """A zone makes 1 + its records resources, generated ones included."""
    raw_groups = spec.get("vms")
    groups: Mapping[str, Any] = raw_groups if isinstance(raw_groups, dict) else {}
    shares = []
    for name, zone in zones.items():
        if not isinstance(zone, dict):
            continue
        records = zone.get("records")
        listed = zone.get("for_each_vm")
        made = [
            _count(groups.get(group))
            for group in (dict.fromkeys(listed) if isinstance(listed, list) else ())
            if isinstance(group, str)
        ]
        count = (len(records) if isinstance(records, dict) else 0) + sum(made)
        shares.append(Share((section, name), f"1 zone and {count} records", 1 + count))
    return shares


def _count(group: Any) -> int:
    """The instances a raw VM group makes (0 for one the schema rejects)."""
    if not isinstance(group, dict):
        return 0
    count = group.get("count", 1)
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


DNS_ZONES = SpecKind(
    DNS,
    "dns_zones",
    DnsZoneSpec,
    attributes=frozenset({"zone_id", "domain", "fqdn"}),
    identity="zone_id",
    keyed=frozenset({"fqdn"}),
    keys=record_names,
    links=(
        Link("network", "networks", "network", external=True),
        Link("zone", "dns_zones", "zone", external=True, local=False),
        Link("for_each_vm", "vms", "VM group"),
    ),
    references_in=("records",),
    check=_check,
    shares=_shares,
)
