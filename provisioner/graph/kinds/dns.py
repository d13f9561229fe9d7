"""dns.NAME: a private zone in its network, with its records as parts of the one node.

Records are data of the zone's node, not nodes of their own: each becomes a
resource of the zone (`dns.NAME/record-web-0`), as a network's gateway and route
table are resources of the network's node, so a plan still shows each record as
its own change. A generated record holds `${vm.GROUP[INDEX].private_ip}`, so it is
resolved like a hand-written one, and the zone waits for each VM of its groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from provisioner.graph.kind import (
    GraphKind,
    Target,
    addressed,
    edge_from,
    link_target,
    reference_edges,
)
from provisioner.graph.kinds.vm import vm_address
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import Edge, EdgeReason
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.dns import DNS, DNS_ZONES, generated
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.model import Environment
from provisioner.spec.references import EnvironmentReference
from provisioner.spec.uses import seen_from


@dataclass(frozen=True)
class Record:
    """One record of a zone: its label, type, and value (text that may hold `${...}`)."""

    name: str
    type: str
    value: str
    for_vm: Address | None = None  # the VM it was generated for

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True, eq=False)
class DnsZoneNode(Node):
    domain: str = ""
    network: Target = field(default_factory=lambda: Address(NETWORK, "?"))
    records: tuple[Record, ...] = ()
    # Another environment's zone that the records go to (then no zone of this node's own).
    zone: EnvironmentReference | None = None

    def fqdn(self, record: str) -> str:
        """`web-0.dev.internal` for record `web-0`."""
        return f"{record}.{self.domain}"

    def attributes(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "network": str(self.network),
            **({"zone": str(self.zone)} if self.zone is not None else {}),
            "records": {record.name: record.to_json() for record in self.records},
        }


def _build(env: Environment) -> Iterator[DnsZoneNode | Edge]:
    for address, spec in addressed(DNS_ZONES, env):
        name = address.name
        path = ("dns_zones", name)
        written = [
            Record(record, given.type, given.value) for record, given in spec.records.items()
        ]
        made = [
            _generated(record, vm_address(group, index))
            for record, (group, index) in generated(spec, env).items()
        ]
        zone = link_target(DNS, spec.zone) if spec.zone is not None else None
        if isinstance(zone, EnvironmentReference):
            domain, network = _their_zone(env, zone)
            records = (*written, *made)
            yield DnsZoneNode(address, dict(env.tags), domain, network, records, zone)
        else:
            network = link_target(NETWORK, spec.network or "?")
            yield DnsZoneNode(
                address, dict(env.tags), spec.domain or "", network, (*written, *made)
            )
            yield from edge_from(network, address, EdgeReason.CONTAINS, (*path, "network"))
        position = {group: index for index, group in reversed(list(enumerate(spec.for_each_vm)))}
        for record in made:
            assert record.for_vm is not None
            origin = (*path, "for_each_vm", position[record.for_vm.name])
            yield Edge(record.for_vm, address, EdgeReason.USES, origin)
        yield from reference_edges(spec.records, (*path, "records"), [address])


def _their_zone(env: Environment, zone: EnvironmentReference) -> tuple[str, Target]:
    """The domain and network of a zone of an environment `env` uses (from its spec)."""
    upstream = env.used.get(zone.environment)
    theirs = None
    if upstream is not None and zone.resource is not None:
        theirs = DNS_ZONES.items(upstream).get(zone.resource.target.name)
    if theirs is None or theirs.domain is None:
        return "", Address(NETWORK, "?")
    seen = seen_from(zone.environment, DNS_ZONES, theirs)
    return theirs.domain, link_target(NETWORK, seen.network or "?")


def _generated(name: str, vm: Address) -> Record:
    """The A record of a VM of a `for_each_vm` group: the VM's private IP."""
    return Record(name, "A", f"${{{vm}.private_ip}}", vm)


DNS_GRAPH = GraphKind(DNS_ZONES, _build, colour="#ff9da7")
