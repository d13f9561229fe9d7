"""The changes users make to an environment that is up, checked from the cloud and the hosts.

One environment goes through them in order: scaling out and in, roles added,
removed and renamed, a security-group rule and an instance type changed in
place. What each step did is read from the outside: instances and rules with
boto3, files and host keys over SSH and in the pinned known_hosts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "live"


def spec(count: int = 2, roles: tuple[str, ...] = ("mark",), **vm: Any) -> dict[str, Any]:
    return {
        "name": ENV,
        "cloud": "local",
        "region": "us-east-1",
        "networks": {"main": {"cidr": "10.63.0.0/16"}},
        "subnets": {"a": {"network": "main", "cidr": "10.63.1.0/24"}},
        "security_groups": {
            "app": {
                "network": "main",
                "ingress": [
                    {"protocol": "tcp", "ports": 22, "cidr": "10.63.0.0/16"},
                    {"protocol": "tcp", "ports": vm.pop("port", 8080), "cidr": "10.63.0.0/16"},
                ],
            }
        },
        "key_pairs": {"deploy": {}},
        "roles": {
            "mark": {"playbook": "mark.yml", "vars": {"mark": "mark"}},
            "extra": {"playbook": "mark.yml", "vars": {"mark": "extra"}},
            "stamp": {"playbook": "mark.yml", "vars": {"mark": "mark"}},
        },
        "vms": {
            "app": {
                "count": count,
                "instance_type": vm.pop("instance_type", "t3.micro"),
                "image": "ami-12c6146b",
                "subnet": "a",
                "security_groups": ["app"],
                "key_pair": "deploy",
                "roles": list(roles),
            }
        },
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("live"))
    yield project
    project.teardown(ENV)


def up(project: Project, **changes: Any) -> dict[str, Any]:
    project.write_spec(ENV, spec(**changes))
    return project.run_json("up", ENV, "--yes")


def instance_ids(project: Project) -> dict[str, str]:
    return {a: i["InstanceId"] for a, i in project.instances(ENV).items()}


def test_scaling_out_and_in_adds_and_removes_hosts_and_their_host_key_pins(
    project: Project,
) -> None:
    up(project, count=2)
    first = instance_ids(project)
    assert sorted(first) == ["vm.app[0]", "vm.app[1]"]
    assert project.wait_for_hosts(2) == 2
    assert all(project.pinned(ENV, instance_id) for instance_id in first.values())

    up(project, count=3)
    grown = instance_ids(project)
    assert sorted(grown) == ["vm.app[0]", "vm.app[1]", "vm.app[2]"]
    assert {a: grown[a] for a in first} == first  # the others are untouched
    assert project.wait_for_hosts(3) == 3
    assert "mark on app-2 in live" in project.ssh(ENV, "app-2", "cat", "/srv/mark-mark")
    assert project.pinned(ENV, grown["vm.app[2]"])

    up(project, count=1)
    assert instance_ids(project) == {"vm.app[0]": first["vm.app[0]"]}
    assert project.wait_for_hosts(1) == 1
    assert list(project.farm().records()) == [first["vm.app[0]"]]
    assert project.pinned(ENV, first["vm.app[0]"])
    for gone in ("vm.app[1]", "vm.app[2]"):
        assert project.pinned(ENV, grown[gone]) == [], f"{gone} is still pinned"
    pins = [line for line in project.known_hosts(ENV).read_text().splitlines() if line]
    assert len(pins) == 1


def test_roles_added_removed_and_renamed_on_a_running_vm(project: Project) -> None:
    project.write_spec(ENV, spec(count=1, roles=("mark", "extra")))
    plan = project.run_json("plan", ENV, "--detailed-exitcode", expect=2)
    assert all(change["action"] == "no-op" for change in plan["changes"])
    assert {c["address"]: c["action"] for c in plan["software"]} == {
        "software.mark@vm.app[0]": "no-op",
        "software.extra@vm.app[0]": "update",  # the VM stays: check mode predicts it
    }
    [roles] = [o for o in plan["outputs"] if o["path"] == "vms.vm.app[0].roles"]
    assert (roles["before"], roles["after"]) == (["mark"], ["mark", "extra"])

    added = up(project, count=1, roles=("mark", "extra"))
    assert "extra on app-0" in project.ssh(ENV, "app-0", "cat", "/srv/mark-extra")
    assert added["vms"]["vm.app[0]"]["roles"] == ["mark", "extra"]  # the recorded outputs

    # `extra` removed and `mark` renamed `stamp` (the same playbook), in one change.
    changed = up(project, count=1, roles=("stamp",))
    assert sorted(changed["configured"]) == ["software.stamp@vm.app[0]"]
    assert changed["configured"]["software.stamp@vm.app[0]"]["succeeded"]
    assert changed["vms"]["vm.app[0]"]["roles"] == ["stamp"]
    assert project.run_json("output", ENV)["vms"]["vm.app[0]"]["roles"] == ["stamp"]  # recorded
    [run] = project.runs(ENV)[-1:]
    started = {e["address"] for e in project.events(run, "ConfigureStarted")}
    assert started == {"software.stamp@vm.app[0]"}
    # Ansible has no undo: what a removed role did stays on the host.
    assert "extra on app-0" in project.ssh(ENV, "app-0", "cat", "/srv/mark-extra")


def test_a_rule_and_an_instance_type_change_in_place_and_the_vm_keeps_its_disk_and_key(
    project: Project,
) -> None:
    ec2 = project.ec2()
    filters = [
        {"Name": "tag:provision:env", "Values": [ENV]},
        {"Name": "tag:provision:address", "Values": ["sg.app"]},
    ]
    [before] = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    [instance_id] = instance_ids(project).values()
    project.ssh(ENV, "app-0", "sh", "-c", "echo survives > /root/kept")
    pinned = project.pinned(ENV, instance_id)
    assert pinned
    changed = {"count": 1, "roles": ("stamp",), "port": 8081, "instance_type": "t3.small"}
    project.write_spec(ENV, spec(**changed))
    plan = project.run_json("plan", ENV, "--no-hosts")
    pending = {c["address"]: c for c in plan["changes"] if c["action"] != "no-op"}
    assert {address: c["action"] for address, c in pending.items()} == {
        "sg.app": "update",
        "vm.app[0]": "update",
    }
    assert [p["path"] for p in pending["vm.app[0]"]["diff"]] == ["instance_type"]

    up(project, **changed)
    [after] = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    assert after["GroupId"] == before["GroupId"]
    assert sorted(p["FromPort"] for p in before["IpPermissions"]) == [22, 8080]
    assert sorted(p["FromPort"] for p in after["IpPermissions"]) == [22, 8081]
    [instance] = project.instances(ENV).values()
    assert (instance["InstanceId"], instance["InstanceType"]) == (instance_id, "t3.small")
    # A stop and a start: the disk and the host key are the instance's, as with EBS.
    assert project.ssh(ENV, "app-0", "cat", "/root/kept").strip() == "survives"
    assert project.pinned(ENV, instance_id) == pinned
