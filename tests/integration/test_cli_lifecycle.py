"""What users run against the local cloud besides the happy path.

`down` of an environment that was never up, `up` that may not ask, the README's
`plan ENV --cloud local` for the AWS environment, `plan dev --with-deps` before
anything exists, and two environments brought up at the same time on one local
cloud that neither had started.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from provisioner.local.control import LocalCloud
from tests.integration.projects import ROOT, Project

pytestmark = pytest.mark.integration


def spec(name: str, octet: int) -> str:
    return f"""\
name: {name}
cloud: local
region: us-east-1
networks:
  main: {{cidr: 10.{octet}.0.0/16}}
subnets:
  a: {{network: main, cidr: 10.{octet}.1.0/24}}
security_groups:
  ssh: {{network: main, ingress: [{{protocol: tcp, ports: 22, cidr: 10.{octet}.0.0/16}}]}}
key_pairs:
  deploy: {{}}
roles:
  mark: {{playbook: mark.yml, vars: {{mark: {name}}}}}
vms:
  app: {{count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: a,
        security_groups: [ssh], key_pair: deploy, roles: [mark]}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("cli"))
    for name in ("network", "on-network", "dev", "prod", "base"):
        shutil.copy(ROOT / "environments" / f"{name}.yaml", project.root / "environments")
    project.write_spec("left", spec("left", 68))
    project.write_spec("right", spec("right", 69))
    yield project
    project.teardown("left", "right")


def local_cloud_running(project: Project) -> bool:
    return LocalCloud(project.state / "local").status().running


def test_down_of_an_environment_never_up_says_so_and_starts_nothing(project: Project) -> None:
    assert not local_cloud_running(project)
    result = project.run("down", "left", "--yes")
    assert "Nothing to delete in left: its state records no resources." in result.stdout
    assert not local_cloud_running(project)
    assert not (project.state / "local" / "daemon.json").exists()


@pytest.mark.parametrize("no_prompt", ["CI set", "no terminal"])
def test_up_without_yes_refuses_when_it_cannot_ask_and_changes_nothing(
    project: Project, no_prompt: str
) -> None:
    env = project.env()
    if no_prompt == "CI set":
        env["CI"] = "true"
    result = project.run("up", "left", expect=1, env=env)  # stdin is not a terminal
    assert "refusing to change anything without confirmation" in result.stderr
    assert "pass --yes" in result.stderr
    assert "Traceback" not in result.stderr
    assert project.tagged_ids("left") == set()
    assert project.state_ids("left") == set()


def test_the_aws_environment_plans_on_the_local_cloud(project: Project) -> None:
    plan = project.run_json("plan", "prod", "--cloud", "local", "--detailed-exitcode", expect=2)
    assert plan["environment"] == "prod"
    actions = {c["action"] for c in plan["changes"]}
    assert actions == {"create"}
    assert sum(1 for c in plan["changes"] if c["kind"] == "vm") == 4
    assert {"lb", "db", "network"} <= {c["kind"] for c in plan["changes"]}  # the three tiers
    # New VMs: every role runs, nothing to compare in check mode.
    assert {s["action"] for s in plan["software"]} == {"create"}
    assert project.tagged_ids("prod") == set()


def test_plan_with_deps_before_anything_exists_shows_what_it_reads_known_after_apply(
    project: Project,
) -> None:
    """dev is placed in network's subnets: neither was ever applied (the Terragrunt case)."""
    found = project.run_json("plan", "dev", "--with-deps", "--detailed-exitcode", expect=2)
    plans = {entry["environment"]: entry["plan"] for entry in found["environments"]}
    assert list(plans) == ["network", "dev"]
    assert {c["action"] for c in plans["network"]["changes"]} == {"create"}
    assert {"network", "subnet", "dns"} == {c["kind"] for c in plans["network"]["changes"]}
    changes = {c["address"]: c for c in plans["dev"]["changes"]}
    assert {c["action"] for c in changes.values()} == {"create"}
    assert sum(1 for c in changes.values() if c["kind"] == "vm") == 2
    later = "(known after apply of network)"
    assert after(changes["dns.internal/record-app"], "zone_id") == later  # network's zone
    for address in ("vm.web[0]", "vm.web[1]"):
        assert after(changes[address], "subnet_id") == later
    assert after(changes["lb.web"], "subnet_ids") == [later, later]
    assert after(changes["db.main/subnet-group"], "subnet_ids") == [later, later]
    assert after(changes["sg.web"], "vpc_id") == later
    assert project.tagged_ids("network") == project.tagged_ids("dev") == set()


def after(change: dict[str, Any], name: str) -> Any:
    """The value a planned change gives property `name`."""
    [found] = [p["after"] for p in change["diff"] if p["path"] == name]
    return found


def test_two_environments_come_up_together_on_one_local_cloud_that_both_start(
    project: Project,
) -> None:
    project.run("local", "stop")
    assert not local_cloud_running(project)
    log = project.state / "local" / "daemon.log"
    started_before = log.read_text().count("moto server listening") if log.exists() else 0
    left, right = project.start("up", "left", "--yes"), project.start("up", "right", "--yes")
    outputs = [process.communicate(timeout=600)[0] for process in (left, right)]
    assert [left.returncode, right.returncode] == [0, 0], outputs
    daemons = LocalCloud(project.state / "local").status()
    assert daemons.running
    for name in ("left", "right"):
        assert len(project.state_ids(name)) == 5  # vpc, subnet, security group, key pair, instance
        assert project.tagged_ids(name) == project.state_ids(name)
        assert f"{name} on app-0" in project.ssh(name, "app-0", "cat", f"/srv/mark-{name}")
    # Both found no local cloud running; one started it, the other used it.
    assert log.read_text().count("moto server listening") == started_before + 1


def test_runs_leave_no_working_folders_behind(project: Project) -> None:
    """The Automation API's working folder goes with the run, not into the temp folder."""
    scratch = project.root / "tmp"
    scratch.mkdir()
    env = {**project.env(), "TMPDIR": str(scratch)}
    project.run("plan", "left", "--detailed-exitcode", env=env)
    project.run("up", "right", "--yes", env=env)
    assert sorted(p.name for p in scratch.iterdir()) == []
    # One working folder per stack, reused by every run.
    work = project.state / "pulumi-home" / "work"
    assert {p.name for p in work.iterdir()} == {"left", "right", "network", "dev", "prod"}
