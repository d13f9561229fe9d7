"""`up` runs whose roles fail: everything the run created is rolled back.

A role whose task fails, and a role whose task hangs past `timeouts.software`.
In the second, two VMs run the role together (one ansible-playbook run for both,
since the role comes after another and so becomes runnable on both at once) and
the task hangs on one of them. The run is stopped at the timeout: the hanging
host's node is the one named; the other host of the same run is stopped with it
and says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.projects import FAILING_PLAYBOOK, NOTHING_LEFT, Project

pytestmark = pytest.mark.integration

ENV = "stuck"
TIMEOUT = 20  # seconds: the first role fits in it on a loaded machine, the hang does not
MARGIN = 20  # start-up of the playbook run, and the kill
SPEC = f"""\
name: stuck
cloud: local
region: us-east-1
timeouts: {{software: {TIMEOUT}s}}
networks:
  main: {{cidr: 10.67.0.0/16}}
subnets:
  a: {{network: main, cidr: 10.67.1.0/24}}
security_groups:
  ssh: {{network: main, ingress: [{{protocol: tcp, ports: 22, cidr: 10.67.0.0/16}}]}}
key_pairs:
  deploy: {{}}
roles:
  mark: {{playbook: mark.yml, vars: {{mark: stuck}}}}
  hang: {{playbook: hang.yml, after: [mark]}}
vms:
  app: {{count: 2, instance_type: t3.micro, image: ami-12c6146b, subnet: a,
        security_groups: [ssh], key_pair: deploy, roles: [mark, hang]}}
"""
HANG = """\
- name: hang
  hosts: all
  gather_facts: false
  tasks:
    - name: Hang on one host
      ansible.builtin.command: sleep 600
      when: inventory_hostname == 'app-1'
    - name: Never reached
      ansible.builtin.copy: {dest: /srv/after-the-hang, content: "reached\\n"}
"""
RESOURCES = 6  # vpc, subnet, security group, key pair, 2 instances


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("stuck"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


def assert_rolled_back(project: Project) -> None:
    assert project.state_ids(ENV) == set()
    assert project.leftovers(ENV) == NOTHING_LEFT


def test_a_failing_role_fails_the_run_and_rolls_back_everything_it_created(
    project: Project,
) -> None:
    project.write_playbook("hang.yml", FAILING_PLAYBOOK)
    result = project.run("up", ENV, "--yes", expect=1)
    error = result.stderr.replace("\n", " ")
    assert "failed: task 'Fail on purpose' failed: injected" in error
    assert f"rolled back the {RESOURCES} resources it created" in error
    assert_rolled_back(project)


def test_a_hanging_task_times_out_names_its_node_and_the_run_rolls_back(
    project: Project,
) -> None:
    project.write_playbook("hang.yml", HANG)
    failed = project.run("up", ENV, "--yes", expect=1)
    error = failed.stderr.replace("\n", " ")
    assert (
        f"up failed: software.hang@vm.app[1] failed: timed out after {TIMEOUT}s "
        "(the spec's timeouts.software) in task 'Hang on one host'"
    ) in error
    assert "rolled back the" in error

    run = project.runs(ENV)[-1]
    finished = {e["address"]: e for e in project.events(run, "ConfigureFinished")}
    hung, stopped = finished["software.hang@vm.app[1]"], finished["software.hang@vm.app[0]"]
    assert hung["status"] == "failed" and hung["elapsed"] <= TIMEOUT + MARGIN
    # The other host of the same run is stopped with it, wherever it was.
    assert stopped["status"] == "failed"
    assert "stopped after" in stopped["error"] and "software.hang@vm.app[1]" in stopped["error"]
    assert finished["software.mark@vm.app[0]"]["status"] == "done"

    assert_rolled_back(project)
