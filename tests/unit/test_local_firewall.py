"""Security groups as nftables rulesets: what each ingress rule lets in, rendered purely."""

from __future__ import annotations

from provisioner.local.firewall import TABLE, IngressRule, render_ruleset


def accepts(*rules: IngressRule) -> list[str]:
    """The rule lines of the input chain after the two that every table has."""
    lines = [line.strip() for line in render_ruleset(rules).splitlines()]
    start = lines.index('iif "lo" accept') + 1
    return lines[start : lines.index("}")]


def test_the_table_is_flushed_and_redefined_in_one_transaction_with_a_drop_policy() -> None:
    text = render_ruleset([])
    assert text.splitlines()[:3] == [
        f"add table inet {TABLE}",
        f"flush table inet {TABLE}",
        f"table inet {TABLE} {{",
    ]
    assert "type filter hook input priority filter; policy drop;" in text
    assert "ct state established,related accept" in text
    assert accepts() == []


def test_a_port_from_a_cidr_accepts_that_port_from_that_cidr_only() -> None:
    rule = IngressRule("tcp", 22, 22, ("10.20.0.0/16",))
    assert accepts(rule) == ["ip saddr { 10.20.0.0/16 } tcp dport 22 accept"]


def test_a_peer_group_accepts_its_members_addresses() -> None:
    rule = IngressRule("tcp", 5432, 5432, ("10.20.1.6", "10.20.1.5"))
    assert accepts(rule) == ["ip saddr { 10.20.1.5, 10.20.1.6 } tcp dport 5432 accept"]


def test_a_peer_group_without_members_lets_nothing_in() -> None:
    assert accepts(IngressRule("tcp", 5432, 5432, ())) == []


def test_port_ranges_all_ports_and_all_protocols() -> None:
    assert accepts(
        IngressRule("udp", 1000, 2000, ("10.1.0.0/16",)),
        IngressRule("tcp", 0, 65535, ("10.2.0.0/16",)),
        IngressRule("-1", None, None, ("10.3.0.0/16",)),
        IngressRule("50", None, None, ("10.4.0.0/16",)),
    ) == [
        "ip saddr { 10.1.0.0/16 } udp dport 1000-2000 accept",
        "ip saddr { 10.2.0.0/16 } meta l4proto tcp accept",
        "ip saddr { 10.3.0.0/16 } accept",
        "ip saddr { 10.4.0.0/16 } meta l4proto 50 accept",
    ]


def test_anywhere_matches_the_address_family_not_a_source() -> None:
    assert accepts(
        IngressRule("tcp", 80, 80, ("0.0.0.0/0",)), IngressRule("tcp", 80, 80, ("::/0",))
    ) == ["meta nfproto ipv4 tcp dport 80 accept", "meta nfproto ipv6 tcp dport 80 accept"]


def test_icmp_rules_take_type_and_code_from_the_ports() -> None:
    assert accepts(
        IngressRule("icmp", 8, -1, ("10.0.0.0/8",)),
        IngressRule("icmp", 3, 4, ("10.0.0.0/8",)),
        IngressRule("1", -1, -1, ("10.9.0.0/16",)),
        IngressRule("icmp", -1, -1, ("fd00::/8",)),  # ICMP is IPv4 only
    ) == [
        "ip saddr { 10.0.0.0/8 } icmp type 3 icmp code 4 accept",
        "ip saddr { 10.0.0.0/8 } icmp type 8 accept",
        "ip saddr { 10.9.0.0/16 } meta l4proto icmp accept",
    ]


def test_the_same_rule_from_two_groups_is_rendered_once_in_a_stable_order() -> None:
    web = IngressRule("tcp", 22, 22, ("10.20.0.0/16",))
    db = IngressRule("tcp", 5432, 5432, ("10.20.1.5",))
    assert render_ruleset([web, db, web]) == render_ruleset([db, web])
