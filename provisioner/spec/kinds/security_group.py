"""security_groups: security groups of a network, whose rules name CIDRs or other groups."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kind import CheckContext, Link, SpecKind, dangling
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.model import Cidr, Environment, PortRange, SpecModel

SECURITY_GROUP = ResourceKind.declare("sg", depends_on=(NETWORK,), on_itself=True)

Protocol = Literal["tcp", "udp", "icmp", "all"]


class RuleSpec(SpecModel):
    """A security-group rule: a protocol and ports, from (or to) a CIDR or another group."""

    protocol: Protocol = "tcp"
    ports: PortRange | None = None
    cidr: Cidr | None = None
    group: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_peer(self) -> RuleSpec:
        if (self.cidr is None) == (self.group is None):
            raise ValueError("a rule needs exactly one of 'cidr' or 'group'")
        if self.protocol in ("tcp", "udp") and self.ports is None:
            raise ValueError(f"a {self.protocol} rule needs 'ports'")
        return self


class SecurityGroupSpec(SpecModel):
    """A security group in a network."""

    network: str
    description: str = ""
    ingress: list[RuleSpec] = Field(default_factory=list)
    egress: list[RuleSpec] = Field(
        default_factory=lambda: [RuleSpec(protocol="all", cidr=ipaddress.IPv4Network("0.0.0.0/0"))]
    )

    def rules(self) -> Iterator[tuple[str, int, RuleSpec]]:
        """(direction, index, rule) of every rule."""
        for direction in ("ingress", "egress"):
            rules: list[RuleSpec] = getattr(self, direction)
            for index, rule in enumerate(rules):
                yield direction, index, rule


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    groups = SECURITY_GROUPS.items(env)
    for name, group in groups.items():
        for direction, index, rule in group.rules():
            if rule.group is None:
                continue
            rule_path = ("security_groups", name, direction, index, "group")
            yield from dangling(ctx, rule_path, "security_groups", "security group", rule.group)
            peer = groups.get(rule.group)
            if peer is not None and peer.network != group.network:
                yield ctx.problem(
                    rule_path,
                    f"security group '{rule.group}' is in network '{peer.network}', "
                    f"not '{group.network}'",
                )


SECURITY_GROUPS = SpecKind(
    SECURITY_GROUP,
    "security_groups",
    SecurityGroupSpec,
    attributes=frozenset({"id"}),
    identity="id",
    links=(Link("network", "networks", "network", external=True),),
    check=_check,
)
