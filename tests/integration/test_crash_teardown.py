"""`kill -9` in the middle of a teardown: of `down`, and of the rollback of a failed `up`.

Either way, the next `down` finishes the job: no resource tagged for the
environment is left in the cloud, no host is left on the machine, and no process
of any of its runs is still alive.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.projects import MARK_PLAYBOOK, NOTHING_LEFT, Project

pytestmark = pytest.mark.integration

ENV = "wreck"
SPEC = """\
name: wreck
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.65.0.0/16}
subnets:
  a: {network: main, cidr: 10.65.1.0/24, public: true}
security_groups:
  app:
    network: main
    ingress: [{protocol: tcp, ports: 22, cidr: 10.65.0.0/16}]
key_pairs:
  deploy: {}
roles:
  mark: {playbook: mark.yml, vars: {mark: wreck}}
vms:
  app: {count: 2, instance_type: t3.micro, image: ami-12c6146b, subnet: a,
        security_groups: [app], key_pair: deploy, roles: [mark]}
"""
FAILING = (
    MARK_PLAYBOOK
    + """\
    - name: Fail on purpose
      ansible.builtin.fail: {msg: injected}
"""
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("wreck"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


def test_a_down_killed_midway_is_finished_by_the_next_down(project: Project) -> None:
    project.run("up", ENV, "--yes")
    assert len(project.state_ids(ENV)) == 8
    printed = project.kill_at("vm.app[1]: delete ...", "down", ENV, "--yes")
    assert "destroy phase of wreck" in printed
    assert project.tagged_ids(ENV), "the kill came before the teardown was done"

    project.run("down", ENV, "--yes")
    assert project.leftovers(ENV) == NOTHING_LEFT


def test_a_rollback_killed_midway_is_finished_by_the_next_down(project: Project) -> None:
    project.write_playbook("mark.yml", FAILING)
    printed = project.kill_at("vm.app[1]: delete ...", "up", ENV, "--yes")
    assert "rollback phase of wreck" in printed
    assert "failed: injected" in printed  # the role failed, so the run rolls back
    assert project.tagged_ids(ENV), "the kill came before the rollback was done"

    project.run("down", ENV, "--yes")
    assert project.leftovers(ENV) == NOTHING_LEFT
