"""`kill -9` of `up` at any point, chained: each run is killed at the next point.

Every run after the first begins by recovering from the one before it (stopping
its leftovers, clearing Pulumi's pending operations and dead locks, deleting the
resources the state never recorded), then gets further and is killed in turn.
The kill points cover the cloud phase and the first configuration of each role.
The last run must finish the environment with nothing orphaned, and the web page
must answer with the database's answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from provisioner.hosts.ansible_env import shared_connections_dir
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "crash"
SPEC = """\
name: crash
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.64.0.0/16}
subnets:
  public-a: {network: main, cidr: 10.64.1.0/24, public: true}
  private-a: {network: main, cidr: 10.64.2.0/24}
security_groups:
  web:
    network: main
    ingress:
      - {protocol: tcp, ports: 8080, cidr: 10.64.0.0/16}
      - {protocol: tcp, ports: 22, cidr: 10.64.0.0/16}
  db:
    network: main
    ingress:
      - {protocol: tcp, ports: 5432, group: web}
      - {protocol: tcp, ports: 22, cidr: 10.64.0.0/16}
key_pairs:
  deploy: {}
roles:
  base: {playbook: base.yml}
  db: {playbook: kvdb.yml, vars: {db_port: 5432, db_data_dir: /var/lib/kvdb}}
  web:
    playbook: kvweb.yml
    after: [db]
    vars: {db_host: "${vm.db[0].private_ip}", db_port: 5432}
vms:
  web: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: public-a,
        security_groups: [web], key_pair: deploy, roles: [base, web]}
  db: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: private-a,
       security_groups: [db], key_pair: deploy, roles: [base, db]}
"""
# vpc, gateway, route table, 2 subnets, 2 groups, key pair, 2 instances
RESOURCES = 10
# Each run is killed when it prints one of these, in this order; the chain starts from
# nothing. The configure points are each role's first run on its host: the first on a
# host that is new (the run killed before did not get to record it). The third is a
# VM's create: which VM is still to be made depends on how far the second run's
# parallel creates got before its kill landed (the db VM's subnet may be done first).
KILL_POINTS: tuple[str | tuple[str, ...], ...] = (
    "key.deploy: create ...",
    "subnet.public-a: create done",
    ("vm.db[0]: create ...", "vm.web[0]: create ..."),
    "software.base@vm.db[0]: configure ...",
    "software.db@vm.db[0]: configure ...",
    "software.web@vm.web[0]: configure ...",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("crash"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


def test_up_recovers_from_a_kill_at_each_point_and_finishes_with_nothing_orphaned(
    project: Project,
) -> None:
    for marker in KILL_POINTS:
        project.kill_at(marker, "up", ENV, "--yes")

    recovered = project.run("up", ENV, "--yes")
    assert "Applied." in recovered.stdout

    state = project.state_ids(ENV)
    assert len(state) == RESOURCES
    assert project.tagged_ids(ENV) == state
    assert project.wait_for_hosts(2) == 2
    assert project.marked_processes(ENV) == []
    leftover_sockets = [r for r in project.runs(ENV) if shared_connections_dir(r.name).exists()]
    assert leftover_sockets == []
    # Every role is fully configured: the db answers the web page, base ran on the db.
    page = project.ssh(ENV, "web-0", "curl", "-sf", "http://127.0.0.1:8080/")
    assert "db db-0 says hit" in page
    assert "crash / db-0" in project.ssh(ENV, "db-0", "cat", "/etc/motd")
    # Each killed run is recorded as such.
    history = json.loads(project.run("history", ENV, "--json", "--limit", "100").stdout)
    outcomes = [run["outcome"] for run in reversed(history)]
    assert outcomes == ["killed"] * len(KILL_POINTS) + ["succeeded"]


def test_down_after_the_recoveries_leaves_nothing(project: Project) -> None:
    project.run("down", ENV, "--yes")
    assert project.tagged_ids(ENV) == set()
    assert project.farm().records() == {}
