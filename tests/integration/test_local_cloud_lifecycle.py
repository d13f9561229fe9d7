"""A whole lifecycle on the local cloud, under a packet counter, through the cloud forgetting.

While every command runs, an nftables rule in the main network namespace
counts (and drops) any packet bound for a private range: the hosts are reached
only through their VPC's namespace, so the count must stay 0 (see
packet_guard.py). Midway the local cloud is stopped, which forgets every
resource while the state still lists them: `plan` must say so, `up` must
recreate and configure everything, and after a crash of the daemon `down`
must still complete.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from provisioner.local.record import DaemonRecord, LocalPaths
from tests.integration.packet_guard import PrivateTrafficCounter, counting_private_traffic
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "guarded"
SPEC = """\
name: guarded
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.66.0.0/16}
subnets:
  a: {network: main, cidr: 10.66.1.0/24, public: true}
security_groups:
  app:
    network: main
    ingress: [{protocol: tcp, ports: 22, cidr: 10.66.0.0/16}]
key_pairs:
  deploy: {}
roles:
  mark: {playbook: mark.yml, vars: {mark: guarded}}
vms:
  app: {count: 2, instance_type: t3.micro, image: ami-12c6146b, subnet: a,
        security_groups: [app], key_pair: deploy, roles: [mark]}
"""
RESOURCES = 8  # vpc, gateway, route table, subnet, group, key pair, 2 instances


@pytest.fixture(scope="module")
def guard() -> Iterator[PrivateTrafficCounter]:
    with counting_private_traffic() as counter:
        yield counter


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, guard: PrivateTrafficCounter
) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("guarded"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


def test_up_plan_drift_and_ssh_leave_the_main_namespace_for_no_private_address(
    project: Project, guard: PrivateTrafficCounter
) -> None:
    assert guard.hooked_on_output() and guard.dropped() == 0
    project.run("up", ENV, "--yes")
    project.run("plan", ENV, "--detailed-exitcode")
    project.run("drift", ENV)
    project.run("ssh", ENV, "app-1", "--", "true")
    assert guard.dropped() == 0


def test_a_local_cloud_that_forgot_everything_is_planned_recreated_and_torn_down(
    project: Project, guard: PrivateTrafficCounter
) -> None:
    recorded = project.state_ids(ENV)
    assert len(recorded) == RESOURCES
    project.run("local", "stop")

    plan = project.run_json("plan", ENV, "--detailed-exitcode", expect=2)
    assert len(plan["gone"]) == RESOURCES
    assert plan["summary"]["create"] == RESOURCES

    # `up` shows the same plan, the note on what is gone first, and configures the hosts.
    shown = project.run("up", ENV, "--yes").stdout.replace("\n", " ")
    assert f"{RESOURCES} resources that the state records no longer exist in the cloud" in shown
    assert "Configured 2 roles on hosts" in shown
    assert project.state_ids(ENV).isdisjoint(recorded)
    assert project.tagged_ids(ENV) == project.state_ids(ENV)
    assert "guarded on app-0" in project.ssh(ENV, "app-0", "cat", "/srv/mark-guarded")

    # A crash of the daemon forgets everything too, and leaves its hosts behind.
    record = DaemonRecord.load(LocalPaths(project.state / "local").record)
    assert record is not None
    os.kill(record.pid, signal.SIGKILL)
    project.run("down", ENV, "--yes")
    assert project.state_ids(ENV) == set()
    assert project.wait_for_hosts(0) == 0
    assert project.farm().records() == {}
    assert guard.dropped() == 0
