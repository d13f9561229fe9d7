"""Security groups, enforced: a stateful nftables firewall in each namespace that has an address.

Every host namespace, and every namespace that holds a managed interface (a load
balancer's, a database's), gets one table with an input chain that drops by
default. It accepts established and related traffic, anything on its loopback,
and one rule per ingress rule of the security groups of its interfaces: by
protocol, port range (ICMP: type and code), and a source CIDR or peer group (the
private addresses of every instance and managed interface in that group).
Egress stays open, as in AWS's default groups.

A ruleset is applied atomically (`nft -f`, flushing the table in the same
transaction) and only when it changed, so rule changes apply in place without
touching connections the new rules still allow. This is the one module that
runs `nft`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.local import netns
from provisioner.local.interfaces import NAMESPACE_TAG, ec2_backends
from provisioner.local.vpcnet import VpcNetworks

log = logging.getLogger(__name__)

TABLE = "provision_security_groups"
ALL_PORTS = (0, 65535)
_PROTOCOL_NAMES = {"-1": "-1", "all": "-1", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
_LIVE_INSTANCE_STATES = {"pending", "running"}


@dataclass(frozen=True)
class IngressRule:
    """One allowed kind of incoming traffic: a protocol, its ports, and where it may come from.

    `protocol` is AWS's: "-1" (all), "tcp", "udp", "icmp", "icmpv6" or a protocol
    number. For tcp/udp the ports are a range; for ICMP `from_port` is the type
    and `to_port` the code (-1: any). `sources` are CIDRs or single addresses;
    none (a peer group without members) allows nothing.
    """

    protocol: str
    from_port: int | None
    to_port: int | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class NamespaceFirewall:
    """What one namespace accepts: the ingress rules of all its interfaces' groups."""

    namespace: str
    rules: tuple[IngressRule, ...]


def render_ruleset(rules: Iterable[IngressRule]) -> str:
    """The `nft -f` input that replaces the table with these rules, in one transaction."""
    accepts = sorted({line for rule in rules for line in _accept_lines(rule)})
    body = "\n".join(f"        {line}" for line in accepts)
    return (
        f"add table inet {TABLE}\n"
        f"flush table inet {TABLE}\n"
        f"table inet {TABLE} {{\n"
        "    chain input {\n"
        "        type filter hook input priority filter; policy drop;\n"
        "        ct state established,related accept\n"
        '        iif "lo" accept\n'
        f"{body}{chr(10) if body else ''}"
        "    }\n"
        "}\n"
    )


def _accept_lines(rule: IngressRule) -> list[str]:
    protocol = _PROTOCOL_NAMES.get(rule.protocol.lower(), rule.protocol.lower())
    v4 = [s for s in rule.sources if ipaddress.ip_network(s, strict=False).version == 4]
    v6 = [s for s in rule.sources if ipaddress.ip_network(s, strict=False).version == 6]
    lines = []
    for family, sources in (("ip", v4), ("ip6", v6)):
        if not sources:
            continue
        if protocol in ("icmp", "icmpv6") and (protocol == "icmp") != (family == "ip"):
            continue  # ICMP is IPv4's, ICMPv6 IPv6's
        if any(ipaddress.ip_network(s, strict=False).prefixlen == 0 for s in sources):
            source = f"meta nfproto {'ipv4' if family == 'ip' else 'ipv6'}"
        else:
            source = f"{family} saddr {{ {', '.join(sorted(sources))} }}"
        lines.append(f"{source} {_match(protocol, rule.from_port, rule.to_port)}accept")
    return lines


def _match(protocol: str, from_port: int | None, to_port: int | None) -> str:
    """The protocol part of a rule, with a trailing space ("" for every protocol)."""
    if protocol == "-1":
        return ""
    if protocol in ("tcp", "udp"):
        low, high = from_port, to_port
        if low is None or high is None or (low, high) == ALL_PORTS or low < 0:
            return f"meta l4proto {protocol} "
        ports = str(low) if low == high else f"{low}-{high}"
        return f"{protocol} dport {ports} "
    if protocol in ("icmp", "icmpv6"):
        keyword = "icmp" if protocol == "icmp" else "icmpv6"
        if from_port is None or from_port < 0:
            return f"meta l4proto {'icmp' if protocol == 'icmp' else 'ipv6-icmp'} "
        code = f"{keyword} code {to_port} " if to_port is not None and to_port >= 0 else ""
        return f"{keyword} type {from_port} {code}"
    return f"meta l4proto {int(protocol)} "


class Firewalls:
    """Realizer: keeps each namespace's table equal to the rules its groups give it."""

    name = "firewall"

    def __init__(self, desired: Callable[[], Sequence[NamespaceFirewall]]) -> None:
        self.desired = desired
        # What was applied, by namespace: the namespace's kernel id and the ruleset.
        self._applied: dict[str, tuple[int, str]] = {}

    def step(self) -> None:
        wanted = {firewall.namespace: firewall for firewall in self.desired()}
        existing = netns.namespaces()
        for namespace, firewall in wanted.items():
            identity = netns.namespace_identity(namespace) if namespace in existing else None
            if identity is None:
                continue  # not made yet (or gone): a later pass applies it
            ruleset = render_ruleset(firewall.rules)
            if self._applied.get(namespace) == (identity, ruleset):
                continue
            try:
                netns.in_namespace(namespace, ["nft", "-f", "-"], stdin=ruleset)
            except Exception:
                log.exception("could not apply the firewall of %s", namespace)
                continue
            self._applied[namespace] = (identity, ruleset)
        for namespace in set(self._applied) - set(wanted):
            del self._applied[namespace]  # its namespace goes, and its table with it

    def vpcs_in_use(self) -> set[str]:
        return set()  # nothing of its own in a VPC namespace

    def teardown(self) -> None:
        self._applied.clear()  # each table is deleted with its namespace


def moto_firewalls(networks: VpcNetworks) -> list[NamespaceFirewall]:
    """The firewall of every realized namespace, from moto's groups and interfaces.

    Call with moto's lock held.
    """
    found = []
    for ec2 in ec2_backends():
        groups_by_namespace: dict[str, set[Any]] = defaultdict(set)
        members: dict[str, set[str]] = defaultdict(set)
        for eni in list(ec2.enis.values()):
            namespace = _namespace_of(ec2, eni, networks)
            if namespace is None:
                continue
            for group in eni.group_set:
                groups_by_namespace[namespace].add(group)
                if eni.private_ip_address:
                    members[group.id].add(eni.private_ip_address)
        for namespace, groups in groups_by_namespace.items():
            rules = [
                _ingress_rule(ec2, group, rule, members)
                for group in sorted(groups, key=lambda g: g.id)
                for rule in list(group.ingress_rules)
            ]
            found.append(NamespaceFirewall(namespace, tuple(r for r in rules if r is not None)))
    return found


def _namespace_of(ec2: Any, eni: Any, networks: VpcNetworks) -> str | None:
    """The namespace that holds this interface's address, if the data plane realizes it."""
    instance = eni.instance
    if instance is not None:
        if instance.state not in _LIVE_INSTANCE_STATES:
            return None
        return networks.namespace("host", instance.id)  # as HostFarm names it
    return ec2.tags.get(eni.id, {}).get(NAMESPACE_TAG) or None


def _ingress_rule(
    ec2: Any, group: Any, rule: Any, members: dict[str, set[str]]
) -> IngressRule | None:
    if rule.ip_range:
        source = rule.ip_range.get("CidrIp") or rule.ip_range.get("CidrIpv6")
        sources: tuple[str, ...] = (source,) if source else ()
    elif rule.source_group:
        peer_id = rule.source_group.get("GroupId")
        if not peer_id and rule.source_group.get("GroupName"):
            peer = ec2.get_security_group_by_name_or_id(
                rule.source_group["GroupName"], group.vpc_id
            )
            peer_id = peer.id if peer is not None else None
        sources = tuple(sorted(members.get(peer_id or "", ())))
    else:
        return None  # prefix lists are not realized
    return IngressRule(
        protocol=str(rule.ip_protocol),
        from_port=rule.from_port,
        to_port=rule.to_port,
        sources=sources,
    )
