"""`provision drift` on the local cloud: out-of-band changes of every kind, read in bulk.

The environment has dev's network layout with one VM and no roles, so there is
nothing to configure and the hosts take no part. The tests run in order on it, in a project
copied to a temporary folder with its own state folder (and so its own local cloud).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "drifty"
SPEC = """\
# A public and a private subnet, two groups (one naming the other), a key pair, one VM.
name: drifty
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.20.0.0/16}
subnets:
  public-a: {network: main, cidr: 10.20.1.0/24, public: true}
  private-a: {network: main, cidr: 10.20.2.0/24}
security_groups:
  web:
    network: main
    ingress:
      - {protocol: tcp, ports: 80, cidr: 0.0.0.0/0}
      - {protocol: tcp, ports: 22, cidr: 10.20.0.0/16}
  db:
    network: main
    ingress:
      - {protocol: tcp, ports: 5432, group: web}
      - {protocol: tcp, ports: 22, cidr: 10.20.0.0/16}
key_pairs:
  deploy: {type: ed25519}
vms:
  web: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: public-a,
        security_groups: [web], key_pair: deploy}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("drift"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


def drift(project: Project, expect: int) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        project.run("drift", ENV, "--json", "--no-hosts", expect=expect).stdout
    )
    return report


def one(ec2: Any, describe: str, key: str, address: str) -> dict[str, Any]:
    filters = [
        {"Name": "tag:provision:env", "Values": [ENV]},
        {"Name": "tag:provision:address", "Values": [address]},
    ]
    [found] = getattr(ec2, describe)(Filters=filters)[key]
    return dict(found)


def test_right_after_up_there_is_no_drift(project: Project) -> None:
    project.run("up", ENV, "--yes")
    report = drift(project, expect=0)
    assert (report["drift"], report["changes"]) == (False, [])


def test_drift_reports_out_of_band_edits_and_deletions_and_up_clears_them(
    project: Project,
) -> None:
    ec2 = project.ec2()
    vpc = one(ec2, "describe_vpcs", "Vpcs", "network.main")
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "renamed by hand"}])
    db = one(ec2, "describe_security_groups", "SecurityGroups", "sg.db")
    [from_web] = [p for p in db["IpPermissions"] if p.get("UserIdGroupPairs")]
    ec2.revoke_security_group_ingress(GroupId=db["GroupId"], IpPermissions=[from_web])
    table = one(ec2, "describe_route_tables", "RouteTables", "network.main/public-routes")
    [association] = [a for a in table["Associations"] if not a.get("Main")]
    ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    [vm] = one(ec2, "describe_instances", "Reservations", "vm.web[0]")["Instances"]
    ec2.terminate_instances(InstanceIds=[vm["InstanceId"]])
    ec2.delete_key_pair(KeyName=f"{ENV}-deploy")

    report = drift(project, expect=2)

    changes = {c["address"]: c for c in report["changes"]}
    assert {address: c["action"] for address, c in changes.items()} == {
        "network.main": "update",
        "sg.db": "update",
        "subnet.public-a": "update",
        "network.main/public-routes": "update",
        "vm.web[0]": "delete",
        "key.deploy": "delete",
    }
    assert list(changes) == sorted(changes)
    diffs = {
        address: {p["path"]: (p["before"], p["after"]) for p in c["diff"]}
        for address, c in changes.items()
    }
    [tags] = diffs["network.main"].values()
    assert (tags[0]["Name"], tags[1]["Name"]) == (f"{ENV}-network.main", "renamed by hand")
    before, after = diffs["sg.db"]["ingress"]
    assert [r["from_port"] for r in before] == [5432, 22]
    assert [r["from_port"] for r in after] == [22]
    assert diffs["subnet.public-a"] == {"route_table_id": (table["RouteTableId"], None)}
    gateway = diffs["network.main/public-routes"]["gateway_id"]
    assert gateway[0].startswith("igw-") and gateway[1] == ""
    assert "PRIVATE KEY" not in json.dumps(report)

    project.run("up", ENV, "--yes")
    assert drift(project, expect=0)["changes"] == []
    project.run("plan", ENV, "--no-hosts", "--detailed-exitcode")


def test_down_leaves_nothing_to_drift_or_delete(project: Project) -> None:
    project.run("down", ENV, "--yes")
    assert drift(project, expect=0)["changes"] == []
    assert project.tagged_ids(ENV) == set()
