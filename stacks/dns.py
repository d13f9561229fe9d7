"""dns.NAME: a private zone attached to its network's VPC, and one record set per record;
or, for records in another environment's zone, the record sets alone.

Each record is a part of the zone's node (`dns.NAME/record-web-0`), made after
the zone and deleted before it; its value is resolved from the resources its
`${...}` reads (a generated record reads its VM's private IP).
"""

from __future__ import annotations

import pulumi

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.route53 import HostedZoneProvider, RecordSetProvider
from provisioner.graph.kinds.dns import DnsZoneNode
from provisioner.spec.kinds.dns import DNS
from stacks.context import ProgramContext
from stacks.kind import StackKind
from stacks.program import resolved

RECORD_TTL = 300


def record_part(record: str) -> str:
    """The part of the zone's node that holds record `record`."""
    return f"record-{record}"


def declare(node: DnsZoneNode, ctx: ProgramContext) -> AwsResource | None:
    upstream = ctx.depends_on(node)
    if node.zone is not None:
        # Records in another environment's zone: no zone of our own; the first record
        # stands for the node (what `${dns.NAME.zone_id}` reads: that zone's id).
        zone_id = ctx.upstream_value(node.zone)
        after_zone, zone = upstream, None
    else:
        zone = ctx.declare(
            node,
            HostedZoneProvider(),
            {
                "domain": node.domain,
                "vpc_id": ctx.output_of(node.network, "vpc_id"),
            },
            opts=upstream,
        )
        zone_id = zone.output("zone_id")
        # The records wait for the zone, and for what it waits for (what their values read).
        after_zone = pulumi.ResourceOptions.merge(
            upstream, pulumi.ResourceOptions(depends_on=[zone])
        )
    for record in node.records:
        made = ctx.declare(
            node,
            RecordSetProvider(),
            {
                "zone_id": zone_id,
                "fqdn": node.fqdn(record.name),
                "record_type": record.type,
                "value": resolved(record.value, ctx),
                "ttl": RECORD_TTL,
            },
            part=record_part(record.name),
            opts=after_zone,
        )
        ctx.resources.setdefault(node.address, made)
    return zone


DNS_STACK = StackKind(
    DNS,
    declare,
    from_node={
        "domain": lambda node: node.domain,
        "fqdn": lambda node: {record.name: node.fqdn(record.name) for record in node.records},
    },
)
