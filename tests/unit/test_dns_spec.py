"""dns_zones: the spec's checks (located), the `${dns.ZONE.fqdn[RECORD]}` reference, the graph."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.graph.kinds.dns import DnsZoneNode
from provisioner.graph.resource_graph import EdgeReason
from provisioner.spec import SpecError, resolve_environment
from provisioner.spec.diagnostics import format_path
from provisioner.spec.kinds.dns import DNS_ZONES
from provisioner.spec.references import Reference, parse_reference

SPEC = """\
name: env
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.0.0.0/16}
subnets:
  a: {network: main, cidr: 10.0.1.0/24}
vms:
  web: {count: 2, instance_type: t3.micro, image: ami-12c6146b, subnet: a}
  db: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: a}
dns_zones:
  internal:
    domain: dev.internal
    network: main
    for_each_vm: [web]
    records:
      database: {type: A, value: "${vm.db[0].private_ip}"}
      www: {type: CNAME, value: "${dns.internal.fqdn[web-0]}"}
      static: {type: A, value: 10.0.1.250}
outputs:
  web: ${dns.internal.fqdn[web-1]}
"""


def compiled(tmp_path: Path, text: str = SPEC) -> CompiledEnvironment:
    (tmp_path / "environments").mkdir(exist_ok=True)
    (tmp_path / "environments" / "env.yaml").write_text(text)
    return compile_source(resolve_environment("env", tmp_path / "environments"))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        compiled(tmp_path, text)
    return [
        f"{d.location.line}:{d.location.column} {format_path(d.path)}: {d.message}"
        for d in caught.value.diagnostics
    ]


def zone(env: CompiledEnvironment) -> DnsZoneNode:
    [node] = [n for n in env.graph.nodes() if isinstance(n, DnsZoneNode)]
    return node


def edges(env: CompiledEnvironment, reason: EdgeReason) -> set[tuple[str, str]]:
    return {(str(e.source), str(e.target)) for e in env.graph.edges() if e.reason is reason}


# --- the graph ---------------------------------------------------------------------------


def test_a_zone_holds_its_written_records_and_one_generated_per_vm_of_its_groups(
    tmp_path: Path,
) -> None:
    node = zone(compiled(tmp_path))
    assert (node.domain, str(node.network)) == ("dev.internal", "network.main")
    assert {r.name: (r.type, r.value) for r in node.records} == {
        "database": ("A", "${vm.db[0].private_ip}"),
        "www": ("CNAME", "${dns.internal.fqdn[web-0]}"),
        "static": ("A", "10.0.1.250"),
        "web-0": ("A", "${vm.web[0].private_ip}"),
        "web-1": ("A", "${vm.web[1].private_ip}"),
    }
    assert node.fqdn("web-1") == "web-1.dev.internal"


def test_a_zone_waits_for_its_network_each_vm_of_its_groups_and_each_vm_it_reads(
    tmp_path: Path,
) -> None:
    env = compiled(tmp_path)
    assert ("network.main", "dns.internal") in edges(env, EdgeReason.CONTAINS)
    assert {("vm.web[0]", "dns.internal"), ("vm.web[1]", "dns.internal")} <= edges(
        env, EdgeReason.USES
    )
    # Reading its own record's name is no dependency.
    assert {(s, t) for s, t in edges(env, EdgeReason.REFERENCE) if t == "dns.internal"} == {
        ("vm.db[0]", "dns.internal")
    }


@pytest.mark.parametrize("count", [0, 1, 3])
def test_generated_records_follow_the_vm_groups_count(tmp_path: Path, count: int) -> None:
    text = SPEC.replace("web: {count: 2", f"web: {{count: {count}").replace("fqdn[web-1]", "domain")
    text = text.replace('www: {type: CNAME, value: "${dns.internal.fqdn[web-0]}"}', "")
    env = compiled(tmp_path, text)
    generated = [r for r in zone(env).records if r.for_vm is not None]
    assert [r.name for r in generated] == [f"web-{i}" for i in range(count)]
    uses = {s for s, t in edges(env, EdgeReason.USES) if t == "dns.internal"}
    assert uses == {f"vm.web[{i}]" for i in range(count)}


def test_the_zone_shows_its_records_as_data(tmp_path: Path) -> None:
    shown = zone(compiled(tmp_path)).attributes()
    assert shown["records"]["web-0"] == {"type": "A", "value": "${vm.web[0].private_ip}"}
    assert (shown["domain"], shown["network"]) == ("dev.internal", "network.main")


# --- references to a record's name ----------------------------------------------------------


def test_a_records_name_is_read_as_a_keyed_attribute_of_its_zone(tmp_path: Path) -> None:
    compiled(tmp_path)  # declares the kinds
    reference = parse_reference("dns.internal.fqdn[web-0]")
    assert (str(reference.target), reference.attribute, reference.key) == (
        "dns.internal",
        "fqdn",
        "web-0",
    )
    assert str(reference) == "${dns.internal.fqdn[web-0]}"
    assert reference.read({"fqdn": {"web-0": "web-0.dev.internal"}}) == "web-0.dev.internal"
    plain = parse_reference("vm.web[1].private_ip")
    assert plain == Reference(plain.target, "private_ip")
    assert plain.read({"private_ip": "10.0.1.5"}) == "10.0.1.5"


# --- located problems ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            SPEC.replace("domain: dev.internal", "domain: Dev_Internal"),
            "13:5 dns_zones.internal.domain: 'Dev_Internal' is not a DNS name such as "
            "dev.internal (labels of lowercase letters, digits and '-', at most 63 each)",
            id="domain",
        ),
        pytest.param(
            SPEC.replace("static: {type: A", "Static_1: {type: A"),
            "19:7 dns_zones.internal.records.Static_1: invalid record name 'Static_1': one DNS "
            "label of lowercase letters, digits and '-' (not at the ends), at most 63",
            id="record-name",
        ),
        pytest.param(
            SPEC.replace("10.0.1.250", "10.0.1.999"),
            "19:25 dns_zones.internal.records.static.value: an A record holds an IPv4 address, "
            "not '10.0.1.999'",
            id="a-value",
        ),
        pytest.param(
            SPEC.replace('"${dns.internal.fqdn[web-0]}"', "not a name!"),
            "18:26 dns_zones.internal.records.www.value: 'not a name!' is not a DNS name such "
            "as dev.internal (labels of lowercase letters, digits and '-', at most 63 each)",
            id="cname-value",
        ),
        pytest.param(
            SPEC.replace("static: {type: A", "web-1: {type: A"),
            "19:7 dns_zones.internal.records.web-1: record 'web-1' is also generated for "
            "vm.web[1] by for_each_vm 'web'",
            id="written-and-generated",
        ),
        pytest.param(
            SPEC.replace("for_each_vm: [web]", "for_each_vm: [wbe]"),
            "15:19 dns_zones.internal.for_each_vm[0]: unknown VM group 'wbe' (did you mean 'web'?)",
            id="for-each-vm-unknown",
        ),
        pytest.param(
            SPEC.replace("for_each_vm: [web]", "for_each_vm: [web, web]"),
            "15:24 dns_zones.internal.for_each_vm[1]: 'web' is listed twice",
            id="for-each-vm-twice",
        ),
        pytest.param(
            SPEC.replace("network: main\n    for_each", "network: mian\n    for_each"),
            "14:5 dns_zones.internal.network: unknown network 'mian' (did you mean 'main'?)",
            id="network",
        ),
        pytest.param(
            SPEC.replace("fqdn[web-1]", "fqdn[web-5]"),
            "21:3 outputs.web: ${dns.internal.fqdn[web-5]}: dns.internal has no 'web-5' "
            "(did you mean 'web-1'?)",
            id="unknown-record",
        ),
        pytest.param(
            SPEC.replace("fqdn[web-1]", "fqdn"),
            "21:3 outputs.web: 'dns' attribute 'fqdn' is read one entry at a time, as in "
            "${dns.internal.fqdn[NAME]}",
            id="keyed-without-key",
        ),
        pytest.param(
            SPEC.replace("fqdn[web-1]", "zone_id[web-1]"),
            "21:3 outputs.web: 'dns' attribute 'zone_id' takes no [key]",
            id="key-on-plain",
        ),
        pytest.param(
            SPEC.replace("${vm.db[0].private_ip}", "${subnet.a.cidr}"),
            "17:27 dns_zones.internal.records.database.value: a record cannot read a subnet "
            "(only VMs, networks, load balancers and other zones)",
            id="unreadable-kind",
        ),
    ],
)
def test_each_problem_of_a_zone_is_reported_where_it_is(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert problems(tmp_path, text) == [expected]


def test_a_zone_makes_one_resource_and_one_per_record_generated_ones_included() -> None:
    raw = yaml.safe_load(SPEC)
    [share] = DNS_ZONES.shares("dns_zones", raw["dns_zones"], raw)
    assert (share.path, share.resources) == (("dns_zones", "internal"), 1 + 3 + 2)
