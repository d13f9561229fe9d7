"""`provision up | plan | down` on the local cloud: the real Pulumi CLI against a moto server.

Plans here are of the cloud only (`--no-hosts`); tests/integration/test_hosts.py covers
the hosts. The environment has the topology of `dev` (a public and a private
subnet, two groups, one naming the other, a key pair, three VMs), with roles that
are one task each, so that its `up`s cost little on the hosts.

The tests run in order on one environment in a project of its own, with its own
state folder and so its own local-cloud daemon.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "cloudy"
SPEC: dict[str, Any] = {
    "name": ENV,
    "cloud": "local",
    "region": "us-east-1",
    "networks": {"main": {"cidr": "10.20.0.0/16"}},
    "subnets": {
        "public-a": {
            "network": "main",
            "cidr": "10.20.1.0/24",
            "availability_zone": "us-east-1a",
            "public": True,
        },
        "private-a": {"network": "main", "cidr": "10.20.2.0/24", "availability_zone": "us-east-1a"},
    },
    "security_groups": {
        "web": {
            "network": "main",
            "ingress": [
                {"protocol": "tcp", "ports": 80, "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "ports": 22, "cidr": "10.20.0.0/16"},
            ],
        },
        "db": {
            "network": "main",
            "ingress": [
                {"protocol": "tcp", "ports": 5432, "group": "web"},
                {"protocol": "tcp", "ports": 22, "cidr": "10.20.0.0/16"},
            ],
        },
    },
    "key_pairs": {"deploy": {"type": "ed25519"}},
    "roles": {
        role: {"playbook": "mark.yml", "vars": {"mark": role}} for role in ("base", "db", "web")
    },
    "vms": {
        "web": {
            "count": 2,
            "instance_type": "t3.micro",
            "image": "ami-12c6146b",
            "subnet": "public-a",
            "security_groups": ["web"],
            "key_pair": "deploy",
            "roles": ["base", "web"],
        },
        "db": {
            "count": 1,
            "instance_type": "t3.small",
            "image": "ami-12c6146b",
            "subnet": "private-a",
            "security_groups": ["db"],
            "key_pair": "deploy",
            "roles": ["base", "db"],
        },
    },
    "outputs": {"db_address": "${vm.db[0].private_ip}"},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("project"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


def plan_actions(project: Project) -> dict[str, str]:
    plan = project.run_json("plan", ENV, "--no-hosts")
    return {change["address"]: change["action"] for change in plan["changes"]}


def tagged(ec2: Any, describe: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:provision:env", "Values": [ENV]}]
    found: list[dict[str, Any]] = getattr(ec2, describe)(Filters=filters, **kwargs)[key]
    return found


def tag(resource: dict[str, Any], key: str) -> str | None:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), None)


def instances(ec2: Any) -> dict[str, dict[str, Any]]:
    live = [
        instance
        for reservation in tagged(ec2, "describe_instances", "Reservations")
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("shutting-down", "terminated")
    ]
    return {str(tag(i, "provision:address")): i for i in live}


def by_address(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(tag(r, "provision:address")): r for r in resources}


def test_up_creates_exactly_the_expected_resources_with_their_wiring(project: Project) -> None:
    result = project.run("up", ENV, "--yes")
    assert "Plan: 11 to create, 0 to update, 0 to replace, 0 to delete." in result.stdout
    ec2 = project.ec2()

    [vpc] = tagged(ec2, "describe_vpcs", "Vpcs")
    assert (vpc["CidrBlock"], tag(vpc, "Name")) == ("10.20.0.0/16", f"{ENV}-network.main")

    subnets = by_address(tagged(ec2, "describe_subnets", "Subnets"))
    assert sorted(subnets) == ["subnet.private-a", "subnet.public-a"]
    public, private = subnets["subnet.public-a"], subnets["subnet.private-a"]
    assert (public["CidrBlock"], public["MapPublicIpOnLaunch"]) == ("10.20.1.0/24", True)
    assert (private["CidrBlock"], private["MapPublicIpOnLaunch"]) == ("10.20.2.0/24", False)
    assert {s["VpcId"] for s in subnets.values()} == {vpc["VpcId"]}

    [gateway] = tagged(ec2, "describe_internet_gateways", "InternetGateways")
    assert [a["VpcId"] for a in gateway["Attachments"]] == [vpc["VpcId"]]
    [table] = tagged(ec2, "describe_route_tables", "RouteTables")
    assert {
        "DestinationCidrBlock": "0.0.0.0/0",
        "GatewayId": gateway["InternetGatewayId"],
    }.items() <= next(
        r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    ).items()
    assert [a["SubnetId"] for a in table["Associations"]] == [public["SubnetId"]]

    groups = by_address(tagged(ec2, "describe_security_groups", "SecurityGroups"))
    assert sorted(groups) == ["sg.db", "sg.web"]
    web, db = groups["sg.web"], groups["sg.db"]
    assert sorted(
        (p["FromPort"], r["CidrIp"]) for p in web["IpPermissions"] for r in p["IpRanges"]
    ) == [(22, "10.20.0.0/16"), (80, "0.0.0.0/0")]
    [from_web] = [p for p in db["IpPermissions"] if p.get("UserIdGroupPairs")]
    assert (from_web["FromPort"], from_web["UserIdGroupPairs"][0]["GroupId"]) == (
        5432,
        web["GroupId"],
    )
    assert [p["IpProtocol"] for p in web["IpPermissionsEgress"]] == ["-1"]

    [key] = ec2.describe_key_pairs(KeyNames=[f"{ENV}-deploy"], IncludePublicKey=True)["KeyPairs"]
    assert key["KeyType"] == "ed25519"

    vms = instances(ec2)
    assert sorted(vms) == ["vm.db[0]", "vm.web[0]", "vm.web[1]"]
    assert vms["vm.db[0]"]["SubnetId"] == private["SubnetId"]
    assert [g["GroupId"] for g in vms["vm.db[0]"]["SecurityGroups"]] == [db["GroupId"]]
    assert {vms[a]["SubnetId"] for a in ("vm.web[0]", "vm.web[1]")} == {public["SubnetId"]}
    assert all(vm["KeyName"] == f"{ENV}-deploy" for vm in vms.values())
    assert vms["vm.web[0]"].get("PublicIpAddress") and not vms["vm.db[0]"].get("PublicIpAddress")
    user_data = ec2.describe_instance_attribute(
        InstanceId=vms["vm.web[1]"]["InstanceId"], Attribute="userData"
    )["UserData"]["Value"]
    config = yaml.safe_load(base64.b64decode(user_data))
    assert config["hostname"] == "web-1"
    assert config["ssh_authorized_keys"] == [key["PublicKey"].strip()]


def test_output_lists_every_vm_and_never_a_private_key(project: Project) -> None:
    shown = project.run("output", ENV, "--json").stdout
    outputs = json.loads(shown)
    vms = outputs["vms"]
    assert sorted(vms) == ["vm.db[0]", "vm.web[0]", "vm.web[1]"]
    assert vms["vm.db[0]"]["roles"] == ["base", "db"]
    assert outputs["outputs"]["db_address"] == vms["vm.db[0]"]["private_ip"]
    assert "PRIVATE KEY" not in shown
    for args in (("output", ENV), ("plan", ENV, "--json", "--no-hosts")):
        assert "PRIVATE KEY" not in project.run(*args).stdout
    state_files = list((project.state / "state").rglob("*.json"))
    assert state_files and all("PRIVATE KEY" not in f.read_text() for f in state_files)


def test_a_second_plan_shows_no_changes_and_exits_0(project: Project) -> None:
    result = project.run("plan", ENV, "--no-hosts", "--detailed-exitcode")
    assert "No changes." in result.stdout


def test_spec_edits_plan_the_right_actions_and_up_applies_them(project: Project) -> None:
    spec = project.spec(ENV)
    spec["subnets"]["private-b"] = {
        "network": "main",
        "cidr": "10.20.3.0/24",
        "availability_zone": "us-east-1b",
    }
    spec["security_groups"]["web"]["ingress"][0]["ports"] = 8080
    spec["subnets"]["private-a"]["cidr"] = "10.20.4.0/24"
    project.write_spec(ENV, spec)
    plan = project.run_json("plan", ENV, "--no-hosts", "--detailed-exitcode", expect=2)
    actions = {change["address"]: change["action"] for change in plan["changes"]}
    assert actions["subnet.private-b"] == "create"
    assert actions["sg.web"] == "update"
    assert actions["subnet.private-a"] == "replace"
    assert actions["vm.db[0]"] == "replace"  # it lives in the replaced subnet
    assert {a for a, action in actions.items() if action != "no-op"} == {
        "subnet.private-b",
        "sg.web",
        "subnet.private-a",
        "vm.db[0]",
    }

    project.run("up", ENV, "--yes")
    ec2 = project.ec2()
    subnets = by_address(tagged(ec2, "describe_subnets", "Subnets"))
    assert subnets["subnet.private-a"]["CidrBlock"] == "10.20.4.0/24"
    assert subnets["subnet.private-b"]["CidrBlock"] == "10.20.3.0/24"
    web = by_address(tagged(ec2, "describe_security_groups", "SecurityGroups"))["sg.web"]
    assert sorted(p["FromPort"] for p in web["IpPermissions"]) == [22, 8080]
    assert instances(ec2)["vm.db[0]"]["SubnetId"] == subnets["subnet.private-a"]["SubnetId"]
    project.run("plan", ENV, "--no-hosts", "--detailed-exitcode")


def test_up_restores_the_desired_state_after_an_out_of_band_change(project: Project) -> None:
    ec2 = project.ec2()
    web = by_address(tagged(ec2, "describe_security_groups", "SecurityGroups"))["sg.web"]
    ec2.revoke_security_group_ingress(
        GroupId=web["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.20.0.0/16"}],
            }
        ],
    )
    [vpc] = tagged(ec2, "describe_vpcs", "Vpcs")
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "renamed by hand"}])

    actions = plan_actions(project)
    assert (actions["sg.web"], actions["network.main"]) == ("update", "update")

    project.run("up", ENV, "--yes")
    web = by_address(tagged(ec2, "describe_security_groups", "SecurityGroups"))["sg.web"]
    assert sorted(p["FromPort"] for p in web["IpPermissions"]) == [22, 8080]
    [vpc] = tagged(ec2, "describe_vpcs", "Vpcs")
    assert tag(vpc, "Name") == f"{ENV}-network.main"
    project.run("plan", ENV, "--no-hosts", "--detailed-exitcode")


def test_down_leaves_no_project_tagged_resources(project: Project) -> None:
    project.run("down", ENV, "--yes")
    ec2 = project.ec2()
    assert instances(ec2) == {}
    for describe, key in [
        ("describe_vpcs", "Vpcs"),
        ("describe_subnets", "Subnets"),
        ("describe_security_groups", "SecurityGroups"),
        ("describe_internet_gateways", "InternetGateways"),
        ("describe_route_tables", "RouteTables"),
        ("describe_key_pairs", "KeyPairs"),
    ]:
        assert tagged(ec2, describe, key) == [], describe
    assert f"Nothing to delete in {ENV}" in project.run("down", ENV, "--yes").stdout
