"""A VPC resolver's names: records resolved to addresses, and the files dnsmasq reads."""

from __future__ import annotations

from pathlib import Path

from provisioner.local.dnsmasq import render_config, render_hosts, render_servers
from provisioner.local.resolver import DnsRecord, RecordKind, resolve
from provisioner.local.vpcnet import resolver_address

LB = "web-1.us-east-1.elb.amazonaws.com"


def address(name: str, *values: str) -> DnsRecord:
    return DnsRecord(name, RecordKind.ADDRESS, values)


def test_a_records_map_names_to_their_addresses_in_lower_case_without_the_final_dot() -> None:
    assert resolve([address("DB.Test.Internal.", "10.20.2.9")]) == {
        "db.test.internal": ("10.20.2.9",)
    }


def test_an_alias_to_a_load_balancer_resolves_to_the_load_balancers_addresses() -> None:
    names = resolve(
        [
            address(LB, "10.20.1.8", "10.20.3.8"),
            DnsRecord("app.dev.internal.", RecordKind.ALIAS, (f"dualstack.{LB}.",)),
        ]
    )
    assert names["app.dev.internal"] == ("10.20.1.8", "10.20.3.8")


def test_cname_chains_are_followed_and_loops_or_dangling_names_give_nothing() -> None:
    names = resolve(
        [
            address("db.test.internal", "10.20.2.9"),
            DnsRecord("pg.test.internal", RecordKind.CNAME, ("db.test.internal",)),
            DnsRecord("main.test.internal", RecordKind.CNAME, ("pg.test.internal.",)),
            DnsRecord("a.test.internal", RecordKind.CNAME, ("b.test.internal",)),
            DnsRecord("b.test.internal", RecordKind.CNAME, ("a.test.internal",)),
            DnsRecord("out.test.internal", RecordKind.CNAME, ("example.com",)),
        ]
    )
    assert names["main.test.internal"] == ("10.20.2.9",)
    assert names["pg.test.internal"] == ("10.20.2.9",)
    assert not {"a.test.internal", "b.test.internal", "out.test.internal"} & set(names)


def test_the_hosts_file_has_one_sorted_line_per_address_and_name() -> None:
    text = render_hosts({"b.internal": ("10.0.0.2",), "a.internal": ("10.0.0.9", "10.0.0.1")})
    assert text == "10.0.0.1 a.internal\n10.0.0.2 b.internal\n10.0.0.9 a.internal\n"


def test_private_zones_are_answered_locally_and_nothing_else_is_forwarded() -> None:
    assert render_servers(["test.internal", "dev.internal", "test.internal"]) == (
        "server=/dev.internal/\nserver=/test.internal/\n"
    )
    config = render_config(Path("/state/resolvers/vpc-1"), "10.20.0.2").splitlines()
    assert {"no-resolv", "no-hosts", "bind-interfaces", "listen-address=10.20.0.2"} <= set(config)
    assert not [line for line in config if line.startswith(("server=", "interface="))]
    assert "addn-hosts=/state/resolvers/vpc-1/hosts" in config
    assert "servers-file=/state/resolvers/vpc-1/servers" in config


def test_the_resolver_answers_at_the_vpc_base_address_plus_two() -> None:
    assert resolver_address("10.20.0.0/16") == "10.20.0.2"
    assert resolver_address("172.31.16.0/20") == "172.31.16.2"
