"""dns_zones on the local cloud: a private zone in the network's VPC, its records, their life.

One environment, checked from the outside with boto3's Route53 calls, goes
through: `up` (a zone with written records and one per web VM), a plan that
shows a record's new value and a new generated record, an `up` that scales the
web group to 2 and is killed while it writes a record (the next `up` recovers:
it sweeps a zone made for the environment that no state knows), drift of a
record edited out of band that the next `up` (scaling back to 1) restores,
`down`, and an `up` whose role fails and is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from provisioner.local.control import LocalCloud
from provisioner.local.faultproxy import FaultProxy, Faults
from tests.integration.projects import FAILING_PLAYBOOK, NOTHING_LEFT, Project

pytestmark = pytest.mark.integration

ENV = "dns"


def spec(*, web: int = 1, static: str = "10.73.1.250", failing_role: bool = False) -> str:
    roles = ", security_groups: [ssh], key_pair: deploy, roles: [fail]" if failing_role else ""
    return f"""\
name: dns
cloud: local
region: us-east-1
networks:
  main: {{cidr: 10.73.0.0/16}}
subnets:
  a: {{network: main, cidr: 10.73.1.0/24}}
security_groups:
  ssh: {{network: main, ingress: [{{protocol: tcp, ports: 22, cidr: 10.73.0.0/16}}]}}
key_pairs:
  deploy: {{}}
roles:
  fail: {{playbook: fail.yml}}
vms:
  web: {{count: {web}, instance_type: t3.micro, image: ami-12c6146b, subnet: a}}
  db: {{count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: a{roles}}}
dns_zones:
  internal:
    domain: dns.internal
    network: main
    for_each_vm: [web]
    records:
      database: {{type: A, value: "${{vm.db[0].private_ip}}"}}
      www: {{type: CNAME, value: "${{dns.internal.fqdn[web-0]}}"}}
      static: {{type: A, value: {static}}}
outputs:
  www: ${{dns.internal.fqdn[www]}}
  zone: ${{dns.internal.zone_id}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("dns"))
    project.write_spec(ENV, spec())
    project.write_playbook("fail.yml", FAILING_PLAYBOOK)
    yield project
    project.extra_env = {}
    project.teardown(ENV)


def the_zone(project: Project) -> tuple[str, dict[str, Any]]:
    [(zone_id, zone)] = project.zones(ENV).items()
    return zone_id, zone


def private_ips(project: Project) -> dict[str, str]:
    return {a: vm["PrivateIpAddress"] for a, vm in project.instances(ENV).items()}


def records(project: Project, *, web: int, static: str) -> dict[str, str]:
    """The records the zone should hold live."""
    ips = private_ips(project)
    return {
        "database.dns.internal. A": ips["vm.db[0]"],
        "www.dns.internal. CNAME": "web-0.dns.internal",
        "static.dns.internal. A": static,
        **{f"web-{i}.dns.internal. A": ips[f"vm.web[{i}]"] for i in range(web)},
    }


def upsert(project: Project, zone_id: str, name: str, value: str) -> None:
    record = {"Name": name, "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": value}]}
    project.route53().change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
    )


def test_up_makes_a_private_zone_in_the_networks_vpc_with_every_record(project: Project) -> None:
    project.run("up", ENV, "--yes")
    zone_id, zone = the_zone(project)
    [vpc] = [r["id"] for r in project.tagged(ENV) if r["provision:address"] == "network.main"]
    assert (zone["name"], zone["private"]) == ("dns.internal.", True)
    assert zone["vpcs"] == [{"VPCRegion": "us-east-1", "VPCId": vpc}]
    assert (zone["tags"]["provision:env"], zone["tags"]["provision:address"]) == (
        ENV,
        "dns.internal",
    )
    assert zone["records"] == records(project, web=1, static="10.73.1.250")
    record_ids = {f"{zone_id}/{name}.dns.internal/A" for name in ("database", "static", "web-0")}
    assert {zone_id, f"{zone_id}/www.dns.internal/CNAME", *record_ids} <= project.state_ids(ENV)
    shown = project.run_json("output", ENV)["outputs"]
    assert shown == {"www": "www.dns.internal", "zone": zone_id}


def test_plan_shows_a_records_new_value_and_the_record_of_a_new_vm(project: Project) -> None:
    project.write_spec(ENV, spec(web=2, static="10.73.1.251"))
    plan = project.run_json("plan", ENV, "--no-hosts", "--detailed-exitcode", expect=2)
    changes = {c["address"]: c for c in plan["changes"] if c["action"] != "no-op"}
    assert {address: c["action"] for address, c in changes.items()} == {
        "dns.internal/record-static": "update",
        "dns.internal/record-web-1": "create",
        "vm.web[1]": "create",
    }
    [diff] = changes["dns.internal/record-static"]["diff"]
    assert (diff["path"], diff["before"], diff["after"]) == ("value", "10.73.1.250", "10.73.1.251")
    assert changes["dns.internal/record-static"]["kind"] == "dns"


@pytest.fixture(scope="module")
def recovered(project: Project) -> tuple[str, str]:
    """An `up` to web=2 killed while it writes records (held back by a proxy), and a zone made
    for the environment that no state knows; then the `up` that recovers. Its output, and
    that zone's id."""
    endpoint = LocalCloud(project.state / "local").endpoint()
    with FaultProxy(endpoint, Faults()) as proxy:
        project.extra_env = {"PROVISION_LOCAL_ENDPOINT": proxy.endpoint}
        proxy.use(Faults(latency=5.0, latency_actions=frozenset({"ChangeResourceRecordSets"})))
        changes = "ChangeResourceRecordSets"
        project.crash_once(lambda: changes in proxy.counts.actions, "up", ENV, "--yes")
        orphan = project.route53().create_hosted_zone(
            Name="dns.internal",
            CallerReference=f"provision:{ENV}:made-by-a-lost-run",
            VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-made-by-hand"},
            HostedZoneConfig={"PrivateZone": True},
        )["HostedZone"]["Id"]
        proxy.use(Faults())
        result = project.run("up", ENV, "--yes")
    project.extra_env = {}
    # Rich wraps long lines on no terminal: compare the words.
    output = " ".join((result.stdout + result.stderr).split())
    return output, orphan.removeprefix("/hostedzone/")


def test_scaling_the_group_up_adds_its_vms_record(
    project: Project, recovered: tuple[str, str]
) -> None:
    zone_id, zone = the_zone(project)
    assert zone["records"] == records(project, web=2, static="10.73.1.251")
    assert f"{zone_id}/web-1.dns.internal/A" in project.state_ids(ENV)


def test_a_zone_made_for_the_environment_that_the_state_lacks_is_swept(
    project: Project, recovered: tuple[str, str]
) -> None:
    output, orphan = recovered
    assert "cleared operations an interrupted run left pending" in output
    assert f"orphan {orphan}" in output
    zone_id, _ = the_zone(project)
    assert zone_id != orphan and zone_id in project.state_ids(ENV)


def test_drift_catches_a_record_edited_out_of_band(
    project: Project, recovered: tuple[str, str]
) -> None:
    zone_id, _ = the_zone(project)
    web0 = private_ips(project)["vm.web[0]"]
    upsert(project, zone_id, "web-0.dns.internal", "10.73.1.99")
    report = project.run_json("drift", ENV, "--no-hosts", expect=2)
    [change] = report["changes"]
    assert (change["address"], change["action"]) == ("dns.internal/record-web-0", "update")
    [diff] = change["diff"]
    assert (diff["path"], diff["before"], diff["after"]) == ("value", web0, "10.73.1.99")


def test_up_restores_the_record_and_scaling_back_removes_the_vms_record(
    project: Project, recovered: tuple[str, str]
) -> None:
    project.write_spec(ENV, spec(web=1, static="10.73.1.251"))
    project.run("up", ENV, "--yes")
    zone_id, zone = the_zone(project)
    assert zone["records"] == records(project, web=1, static="10.73.1.251")
    assert f"{zone_id}/web-1.dns.internal/A" not in project.state_ids(ENV)
    assert project.run_json("drift", ENV, "--no-hosts")["changes"] == []


def test_down_leaves_no_zone(project: Project) -> None:
    project.run("down", ENV, "--yes")
    assert project.zones(ENV) == {}
    assert project.state_ids(ENV) == set()
    assert project.leftovers(ENV) == NOTHING_LEFT


def test_a_failed_up_rolls_back_its_zone_and_records(project: Project) -> None:
    project.write_spec(ENV, spec(failing_role=True))
    result = project.run("up", ENV, "--yes", expect=1)
    error = result.stderr.replace("\n", " ")
    assert "task 'Fail on purpose' failed: injected" in error
    created = {
        e["address"]
        for e in project.events(project.runs(ENV)[-1], "ResourceFinished")
        if e["action"] == "create" and e["status"] == "done"
    }
    assert {"dns.internal", "dns.internal/record-web-0"} <= created
    assert f"rolled back the {len(created)} resources it created" in error
    assert project.zones(ENV) == {}
    assert project.state_ids(ENV) == set()
    assert project.leftovers(ENV) == NOTHING_LEFT
