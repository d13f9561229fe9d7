"""Environments that use each other, on the local cloud: what is used is applied first and
taken down last.

`network` holds a VPC and a subnet; `app` uses it: its security group and VM sit in
them, it reads the VPC (an output of `network`) and the subnet's id (an attribute of one
of its resources) through a Pulumi stack reference, and its VM's role reads the VPC's id
in its vars. `up app` before `network` exists refuses and creates nothing, and `up app
--with-deps` applies `network` first; `drift --all` is one report and one exit code;
plans saved for both apply each, or are refused before anything runs once a spec
changed; a run over both is one record listing each one's run; `down network` while
`app` has resources refuses and deletes nothing, and `down network --with-dependents`
takes `app` down first. Each outcome is checked in the cloud with boto3, not in our
own output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

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
security_groups:
  ssh:
    network: ${env.network.network.main.id}
    description: ssh from the VPC
    ingress: [{protocol: tcp, ports: 22, cidr: 10.61.0.0/16}]
roles:
  mark: {playbook: mark.yml, vars: {mark: "${env.network.outputs.vpc_id}"}}
vms:
  app:
    count: 1
    instance_type: t3.micro
    image: ami-12c6146b
    subnet: ${env.network.subnet.a.id}
    security_groups: [ssh]
    key_pair: deploy
    roles: [mark]
outputs:
  vpc: ${env.network.outputs.vpc_id}
  subnet: ${env.network.subnet.a.id}
"""

# app without its VM and role: the same cloud resources besides.
APP_WITHOUT_VMS = APP.replace(APP[APP.index("roles:\n") : APP.index("outputs:\n")], "")


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
    assert re.fullmatch(r"2 of 2 environments done \(run \S+\)\.", lines[-1]), lines[-1]
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


def test_drift_all_is_one_report_and_one_exit_code_and_up_with_dependents_clears_it(
    project: Project,
) -> None:
    ec2 = project.ec2()
    owned = [{"Name": "tag:provision:env", "Values": ["network"]}]
    [vpc] = ec2.describe_vpcs(Filters=owned)["Vpcs"]
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "renamed by hand"}])
    drifted = project.run_json("drift", "--all", "--no-hosts", expect=2)
    found = {e["environment"]: e for e in drifted["environments"]}
    assert {name: e["drift"] for name, e in found.items()} == {"app": False, "network": True}
    changed = [c["address"] for c in found["network"]["plan"]["changes"] if c["action"] != "no-op"]
    assert changed == ["network.main"]
    report = project.run_json("up", "network", "--with-dependents", "--yes")
    assert [(r["environment"], r["outcome"]) for r in report["environments"]] == [
        ("network", "done"),
        ("app", "done"),
    ]
    [vpc] = ec2.describe_vpcs(Filters=owned)["Vpcs"]
    assert {t["Key"]: t["Value"] for t in vpc["Tags"]}["Name"] == "network-network.main"


def pending(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each planned environment's changes (address -> action), no-ops left out."""
    return {
        entry["environment"]: {
            c["address"]: c["action"] for c in entry["plan"]["changes"] if c["action"] != "no-op"
        }
        for entry in report["environments"]
    }


def test_a_subnet_update_plans_in_network_alone_and_a_replacement_replaces_the_vm_in_it(
    project: Project,
) -> None:
    subnet = "a: {network: main, cidr: 10.61.1.0/24}"
    project.write_spec("network", NETWORK.replace(subnet, subnet[:-1] + ", tags: {tier: app}}"))
    args = ("plan", "network", "--with-dependents", "--no-hosts", "--detailed-exitcode")
    tagged = project.run_json(*args, expect=2)
    assert pending(tagged) == {"network": {"subnet.a": "update"}, "app": {}}
    project.write_spec("network", NETWORK.replace("10.61.1.0/24", "10.61.2.0/24"))
    moved = project.run_json(*args, expect=2)
    project.write_spec("network", NETWORK)
    assert pending(moved)["network"] == {"subnet.a": "replace"}
    assert pending(moved)["app"]["vm.app[0]"] == "replace"
    [vm] = [
        c
        for entry in moved["environments"]
        for c in entry["plan"]["changes"]
        if c["address"] == "vm.app[0]"
    ]
    [subnet_id] = [p for p in vm["diff"] if p["path"] == "subnet_id"]
    assert subnet_id["after"] == "(known after apply of network)"
    assert subnet_id["forces_replacement"] is True


def test_plans_saved_for_both_apply_each_or_are_refused_before_anything_runs(
    project: Project,
) -> None:
    saved = project.root / "both.plan"
    with_bucket = APP + "buckets:\n  assets: {}\n"
    project.write_spec("app", with_bucket)
    planned = project.run_json("plan", "--all", "--out", str(saved), "--no-hosts")
    actions = {
        e["environment"]: {c["action"] for c in e["plan"]["changes"]}
        for e in planned["environments"]
    }
    assert actions == {"network": {"no-op"}, "app": {"no-op", "create"}}
    assert project.tagged_buckets("app") == []
    applied = project.run_json("up", "--all", "--plan", str(saved))
    assert [(r["environment"], r["outcome"]) for r in applied["environments"]] == [
        ("network", "done"),
        ("app", "done"),
    ]
    assert len(project.tagged_buckets("app")) == 1
    # One record for the run, listing each environment's own run.
    record = project.run_json("show", applied["run"])
    parts = {part["environment"]: part for part in record["environments"]}
    assert set(parts) == {"network", "app"} and record["outcome"] == "succeeded"
    assert parts["app"]["run"] in {run["id"] for run in project.run_json("history", "app")}
    assert applied["run"] in {run["id"] for run in project.run_json("history")}
    # A spec changed since: refused before anything runs, in either environment.
    project.run("plan", "--all", "--out", str(saved), "--no-hosts")
    project.write_spec("app", APP)
    before = {name: len(project.runs(name)) for name in ("network", "app")}
    refused = project.run("up", "--all", "--plan", str(saved), expect=1)
    assert "the spec or its playbooks changed since the plan was saved" in refused.stderr
    assert {name: len(project.runs(name)) for name in before} == before
    assert len(project.tagged_buckets("app")) == 1


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
    # app's spec is gone, its resources are not: the state still says it uses network.
    spec = project.root / "environments" / "app.yaml"
    spec.rename(project.root / "app.yaml.away")
    try:
        refused = project.run("down", "network", "--yes", expect=1)
    finally:
        (project.root / "app.yaml.away").rename(spec)
    assert "nothing was deleted: app (" in refused.stderr
    assert project.tagged_ids("network") == before


def test_down_with_dependents_takes_what_uses_it_down_first(project: Project) -> None:
    report = project.run_json("down", "network", "--with-dependents", "--yes")
    ran = [(r["environment"], r["outcome"]) for r in report["environments"]]
    assert ran == [("app", "done"), ("network", "done")]
    assert all(r["run"] for r in report["environments"])
    assert project.tagged_ids("app") == set()
    assert project.tagged_ids("network") == set()


def test_a_killed_up_all_is_finished_by_the_next_with_no_orphan(project: Project) -> None:
    project.write_spec("app", APP_WITHOUT_VMS)  # what is killed is the cloud's part
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
