"""Environments that use each other, on the local cloud: what is used is applied first and
taken down last.

`network` holds a VPC and a subnet; `app` uses it, holds a VM of its own, and reads the
VPC (an output of `network`) and the subnet's id (an attribute of one of its resources)
through a Pulumi stack reference, and its VM's role reads the VPC's id in its vars. `up
app` before `network` exists refuses and creates nothing, and `up app --with-deps`
applies `network` first; `down network` while `app` has resources refuses and deletes
nothing, and `down network --with-dependents` takes `app` down first. Each outcome is
checked in the cloud with boto3, not in our own output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.projects import Project

pytestmark = pytest.mark.integration

NETWORK = """\
name: network
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.61.0.0/16}
subnets:
  a: {network: main, cidr: 10.61.1.0/24}
outputs:
  vpc_id: ${network.main.id}
"""

APP = """\
name: app
cloud: local
region: us-east-1
uses: [network]
key_pairs:
  deploy: {type: ed25519}
networks:
  own: {cidr: 10.62.0.0/16}
subnets:
  a: {network: own, cidr: 10.62.1.0/24}
security_groups:
  ssh:
    network: own
    description: ssh from the VPC
    ingress: [{protocol: tcp, ports: 22, cidr: 10.62.0.0/16}]
roles:
  mark: {playbook: mark.yml, vars: {mark: "${env.network.outputs.vpc_id}"}}
vms:
  app:
    count: 1
    instance_type: t3.micro
    image: ami-12c6146b
    subnet: a
    security_groups: [ssh]
    key_pair: deploy
    roles: [mark]
outputs:
  vpc: ${env.network.outputs.vpc_id}
  subnet: ${env.network.subnet.a.id}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("in-use"))
    project.write_spec("network", NETWORK)
    project.write_spec("app", APP)
    yield project
    project.run("down", "app", "--yes", expect=None)  # what uses it first
    project.teardown("network")


def test_up_refuses_while_what_it_uses_was_never_applied(project: Project) -> None:
    refused = project.run("up", "app", "--yes", expect=1)
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: app uses network, which was never applied; nothing was changed "
        "(`provision up app --with-deps` applies network first, then app)"
    )
    assert "Traceback" not in refused.stderr
    assert not (project.state / "local").exists() or project.tagged_ids("app") == set()


def test_up_with_deps_applies_what_it_uses_first_and_reads_its_values(
    project: Project,
) -> None:
    result = project.run("up", "app", "--with-deps", "--yes")
    lines = result.stdout.splitlines()
    assert lines.index("network: started") < lines.index("app: started")
    first_done = next(line for line in lines if ": done (" in line)
    assert first_done.startswith("network: done")
    assert lines[-1] == "2 of 2 environments done."
    assert project.tagged_ids("app")
    ec2 = project.ec2()
    owned = [{"Name": "tag:provision:env", "Values": ["network"]}]
    [vpc] = ec2.describe_vpcs(Filters=owned)["Vpcs"]
    [subnet] = ec2.describe_subnets(Filters=owned)["Subnets"]
    read = json.loads(project.run("output", "app", "--json").stdout)["outputs"]
    assert read == {"vpc": vpc["VpcId"], "subnet": subnet["SubnetId"]}
    # The role's variable read network's output: the file is named after the VPC's id.
    mark = project.ssh("app", "app-0", "cat", f"/srv/mark-{vpc['VpcId']}")
    assert mark == f"{vpc['VpcId']} on app-0 in app\n"


def test_down_refuses_while_an_environment_that_uses_it_has_resources(
    project: Project,
) -> None:
    before = project.tagged_ids("network")
    refused = project.run("down", "network", "--yes", expect=1)
    message = refused.stderr.strip().splitlines()[-1]
    assert message.startswith(
        "error: refusing to take network down while environments that use it have "
        "resources, nothing was deleted: app ("
    )
    assert message.endswith(
        "(`provision down network --with-dependents` takes app down first, then network)"
    )
    assert project.tagged_ids("network") == before


def test_down_with_dependents_takes_what_uses_it_down_first(project: Project) -> None:
    report = project.run_json("down", "network", "--with-dependents", "--yes")
    ran = [(r["environment"], r["outcome"]) for r in report["environments"]]
    assert ran == [("app", "done"), ("network", "done")]
    assert all(r["run"] for r in report["environments"])
    assert project.tagged_ids("app") == set()
    assert project.tagged_ids("network") == set()


def test_a_killed_up_all_is_finished_by_the_next_with_no_orphan(project: Project) -> None:
    ec2 = project.ec2()
    app_owned = [{"Name": "tag:provision:env", "Values": ["app"]}]
    # Killed, with every process it started, once app's key pair is on its way: network is
    # done by then, and app's run is in flight.
    project.crash_once(
        lambda: bool(ec2.describe_key_pairs(Filters=app_owned)["KeyPairs"]), "up", "--all", "--yes"
    )
    report = project.run_json("up", "--all", "--yes")
    assert [(r["environment"], r["outcome"]) for r in report["environments"]] == [
        ("network", "done"),
        ("app", "done"),
    ]
    for environment in ("network", "app"):
        assert project.tagged_ids(environment) == project.state_ids(environment)
    project.run_json("down", "--all", "--yes")
    assert project.tagged_ids("app") == project.tagged_ids("network") == set()
